/**
 * How many physical cores this process may use: the default for onnxruntime's intra-op threads.
 *
 * onnxruntime's own default (intra-op threads 0) also counts physical cores, but then pins one
 * thread to each core. A worker shares its cores with its own event loop (encoding, Redis) and, in
 * a container or on a shared host, with other processes; pinned threads cannot move away from a
 * busy core, and the session-options sweep measured an explicit count (no pinning) as fast or
 * faster (docs/benchmarks.md). Hyper-threads are not counted: two threads on one core's siblings
 * share its vector units, which the UNet's convolutions and GEMMs keep busy.
 */
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';

const CPU_ROOT = '/sys/devices/system/cpu';

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Logical CPUs per physical core, from the kernel's topology (1 when it cannot be read). */
export function threadsPerCore(cpuRoot = CPU_ROOT): number {
  let entries: string[];
  try {
    entries = readdirSync(cpuRoot).filter((name) => /^cpu\d+$/.test(name));
  } catch {
    return 1;
  }
  const cores = new Set<string>();
  let logical = 0;
  for (const cpu of entries) {
    const pkg = readText(`${cpuRoot}/${cpu}/topology/physical_package_id`);
    const core = readText(`${cpuRoot}/${cpu}/topology/core_id`);
    if (pkg === undefined || core === undefined) continue;
    cores.add(`${pkg}:${core}`);
    logical++;
  }
  return cores.size > 0 ? Math.max(1, Math.round(logical / cores.size)) : 1;
}

/** The CPU quota of this process's cgroup (v2 `cpu.max`), in whole CPUs rounded up; undefined when unlimited. */
export function cgroupCpuLimit(cpuMaxFile = '/sys/fs/cgroup/cpu.max'): number | undefined {
  const text = readText(cpuMaxFile);
  if (!text) return undefined;
  const [quota, period] = text.split(/\s+/);
  if (quota === 'max' || !quota || !period) return undefined;
  const cpus = Number(quota) / Number(period);
  return Number.isFinite(cpus) && cpus > 0 ? Math.ceil(cpus) : undefined;
}

/**
 * Physical cores available to this process: the CPUs it may run on (affinity), divided by the
 * hardware threads per core, capped by a cgroup CPU quota. At least 1.
 */
export function physicalCoreCount(): number {
  const available = os.availableParallelism();
  const physical = Math.max(1, Math.floor(available / threadsPerCore()));
  const quota = cgroupCpuLimit();
  return Math.max(1, quota === undefined ? physical : Math.min(physical, quota));
}
