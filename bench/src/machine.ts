/** A one-line description of the machine a run happened on, for the table's heading. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './paths.js';

/** Read from node_modules directly: some packages (sharp) do not export their package.json. */
function packageVersion(name: string): string {
  try {
    return (
      JSON.parse(readFileSync(path.join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
        version: string;
      }
    ).version;
  } catch {
    return 'unknown';
  }
}

function cpuModel(): string {
  const model = os.cpus()[0]?.model?.trim() ?? 'unknown CPU';
  try {
    const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1] ?? '';
    const simd = flags.includes(' avx512f') ? 'AVX-512' : flags.includes(' avx2') ? 'AVX2' : '';
    return simd ? `${model} (${simd})` : model;
  } catch {
    return model;
  }
}

export interface MachineInfo {
  summary: string;
  loadAverage: number[];
}

/** The GPUs nvidia-smi reports, if it is installed (CUDA machines); undefined otherwise. */
function nvidiaGpus(): string | undefined {
  try {
    const out = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total', '--format=csv,noheader'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.trim().split('\n').join('; ') || undefined;
  } catch {
    return undefined;
  }
}

/** @param gpuProvider the execution provider when a suite runs on a GPU; omitted: CPU only. */
export function describeMachine(gpuProvider?: string): MachineInfo {
  const gpu = gpuProvider ? `GPU via ${gpuProvider}: ${nvidiaGpus() ?? 'nvidia-smi not available'}` : 'no GPU used';
  const summary =
    `${os.cpus().length} × ${cpuModel()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${gpu}, ` +
    `${os.type()} ${os.release()}, Node ${process.versions.node}, onnxruntime-node ${packageVersion('onnxruntime-node')}, ` +
    `bullmq ${packageVersion('bullmq')}, sharp ${packageVersion('sharp')}`;
  return { summary, loadAverage: os.loadavg() };
}

/**
 * User + system CPU time a process has used, in ms, from /proc (Linux, whose clock tick is 1/100 s
 * on the machines Kiln runs on); undefined where /proc is not there.
 */
export function processCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // Fields after the command name, which may contain spaces: utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? ticks * 10 : undefined;
  } catch {
    return undefined;
  }
}
