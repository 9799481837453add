/**
 * The only module that imports onnxruntime-node. It hides dtype differences between exports
 * (fp16 vs fp32 tensors, int32 vs int64 token ids) behind float32/int32 arrays, and counts the time
 * spent inside `session.run` so benchmarks can compare Kiln's wall time with the model's own time.
 */
import nodePath from 'node:path';
import * as ort from 'onnxruntime-node';
import { float16ToFloat32, float32ToFloat16 } from '@kiln/onnx';
import { createSession } from './optimize/create-session.js';
import { threadOptions, type ThreadSettings } from './session-threads.js';
import {
  explainProviderFailure,
  providerAttempts,
  rememberAutoChoice,
  sessionProviders,
  type ExecutionProvider,
} from './execution-provider.js';

export type { ExecutionProvider } from './execution-provider.js';

/** The onnxruntime-node version this process runs (a worker announces it). */
export const ONNX_RUNTIME_VERSION: string = ort.env.versions.node ?? ort.env.versions.common;

export interface SessionSettings extends ThreadSettings {
  executionProvider?: ExecutionProvider;
  /**
   * A folder for onnxruntime's optimized models (optimize/optimized-model-cache.ts): the first
   * CPU session of a model file saves its optimized graph there, later processes load that copy
   * and skip the optimizer. Absent: no cache.
   */
  optimizedModelCacheDir?: string;
  /**
   * Kiln's graph fusions on load (optimize/prepare-model.ts: attention → MultiHeadAttention), CPU
   * sessions only. Default on.
   */
  graphFusions?: boolean;
  graphOptimizationLevel?: 'disabled' | 'basic' | 'extended' | 'all';
  /**
   * onnxruntime's CPU arena keeps every block it ever allocated (its peak) for the session's life:
   * fastest for a session run many times (the UNet), but the memory is never returned. Off, large
   * activations go back to the OS after each run (docs/memory.md has the measurements). Default on
   * for the sessions of `arenaParts`, off for the others.
   */
  enableCpuMemArena?: boolean;
  /**
   * The model-folder parts (the folder a `model.onnx` sits in) whose sessions keep an arena when
   * `enableCpuMemArena` is on. Default: the UNet only, run every denoising step; the text encoder
   * and the VAE run once or twice a job, and their large activations are returned after each run.
   */
  arenaParts?: readonly string[];
  /**
   * The memory pattern pre-allocates one block per input shape after the first run, on top of the
   * arena's blocks: measured to double a session's resident activations from its second run at a
   * given size, and no faster here (docs/memory.md). Default off.
   */
  enableMemPattern?: boolean;
}

export type ElementType = 'float32' | 'float16' | 'int32' | 'int64' | 'float64' | 'uint8' | string;

export interface ValueInfo {
  name: string;
  type: ElementType;
  shape: readonly (number | string)[];
}

/** A tensor handed to or returned by Kiln code: float data is always float32 on our side. */
export interface HostTensor {
  data: Float32Array | Int32Array;
  dims: readonly number[];
}

export class ModelLoadError extends Error {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super(message);
  }
}

function metadataOf(meta: readonly ort.InferenceSession.ValueMetadata[]): Map<string, ValueInfo> {
  const out = new Map<string, ValueInfo>();
  for (const m of meta) {
    if (m.isTensor) out.set(m.name, { name: m.name, type: m.type, shape: m.shape });
    else out.set(m.name, { name: m.name, type: 'non-tensor', shape: [] });
  }
  return out;
}

function toOrtTensor(info: ValueInfo, tensor: HostTensor): ort.Tensor {
  const dims = [...tensor.dims];
  const { data } = tensor;
  switch (info.type) {
    case 'float32':
      return new ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), dims);
    case 'float16':
      // Converted straight from our float32 data: no intermediate float32 copy.
      return new ort.Tensor('float16', float32ToFloat16(data instanceof Float32Array ? data : Float32Array.from(data)), dims);
    case 'float64':
      return new ort.Tensor('float64', Float64Array.from(data), dims);
    case 'int32':
      return new ort.Tensor('int32', data instanceof Int32Array ? data : Int32Array.from(data), dims);
    case 'int64':
      return new ort.Tensor('int64', BigInt64Array.from(data, (v) => BigInt(Math.round(v))), dims);
    default:
      throw new Error(`input ${info.name}: unsupported element type ${info.type}`);
  }
}

function fromOrtTensor(t: ort.Tensor): HostTensor {
  const dims = t.dims;
  switch (t.type) {
    case 'float32':
      return { data: t.data as Float32Array, dims };
    case 'float16':
      return { data: float16ToFloat32(t.data as Uint16Array), dims };
    case 'float64':
      return { data: Float32Array.from(t.data as Float64Array), dims };
    case 'int32':
      return { data: t.data as Int32Array, dims };
    case 'int64':
      return { data: Int32Array.from(t.data as BigInt64Array, (v) => Number(v)), dims };
    case 'bool':
    case 'uint8':
      return { data: Int32Array.from(t.data as Uint8Array), dims };
    default:
      throw new Error(`output of unsupported element type ${t.type}`);
  }
}

const DEFAULT_ARENA_PARTS = ['unet'];

/**
 * The memory options of a session for the model file `file` (docs/memory.md): an arena only for
 * the parts in `arenaParts` (the folder the file sits in), no memory pattern unless asked. Every
 * session Kiln creates takes them, so the worker-memory estimate holds for all of them.
 */
export function sessionMemoryOptions(
  file: string,
  settings: SessionSettings,
): { enableCpuMemArena: boolean; enableMemPattern: boolean } {
  const part = nodePath.basename(nodePath.dirname(file));
  const arena = (settings.enableCpuMemArena ?? true) && (settings.arenaParts ?? DEFAULT_ARENA_PARTS).includes(part);
  return { enableCpuMemArena: arena, enableMemPattern: settings.enableMemPattern ?? false };
}

/** One ONNX graph loaded into an onnxruntime session. */
export class OnnxModel {
  /** Total milliseconds spent in `session.run` since load (for the core-overhead benchmark). */
  runMs = 0;
  runCount = 0;

  private constructor(
    readonly path: string,
    private readonly session: ort.InferenceSession,
    readonly inputs: Map<string, ValueInfo>,
    readonly outputs: Map<string, ValueInfo>,
    readonly executionProvider: string,
    /** Every attention of the graph runs fused (optimize/create-session.ts): the memory estimate's to know. */
    readonly attentionFused: boolean,
    /** The intra-op thread count its session was created with. */
    readonly intraOpThreads: number,
  ) {}

  static async load(path: string, settings: SessionSettings = {}): Promise<OnnxModel> {
    const ep = settings.executionProvider ?? 'cpu';
    let lastError: unknown;
    for (const provider of providerAttempts(ep)) {
      const providers = sessionProviders(provider);
      try {
        const options: ort.InferenceSession.SessionOptions = {
          executionProviders: providers,
          graphOptimizationLevel: settings.graphOptimizationLevel ?? 'all',
          ...sessionMemoryOptions(path, settings),
          ...threadOptions(settings),
        };
        // Kiln's load-time optimisation is for the CPU provider, where it is measured.
        const cpuOnly = providers.length === 1 && providers[0] === 'cpu';
        const { session, attentionFused } = await createSession(path, options, {
          cacheDir: cpuOnly ? settings.optimizedModelCacheDir : undefined,
          fuse: cpuOnly && (settings.graphFusions ?? true),
        });
        rememberAutoChoice(ep, provider);
        return new OnnxModel(
          path,
          session,
          metadataOf(session.inputMetadata),
          metadataOf(session.outputMetadata),
          providers[0],
          attentionFused,
          options.intraOpNumThreads ?? 0,
        );
      } catch (err) {
        // A provider asked for by name fails loudly; `auto` moves on to the next one.
        const providerError = explainProviderFailure(provider, err);
        if (providerError && ep !== 'auto') throw providerError;
        lastError = err;
      }
    }
    const reason = lastError instanceof Error ? lastError.message : String(lastError);
    throw new ModelLoadError(`cannot load ONNX model ${path}: ${reason}`, path);
  }

  hasInput(name: string): boolean {
    return this.inputs.has(name);
  }

  /** The element type of a named input (e.g. the UNet's `timestep` is float32 in diffusers' export, int64 in older ones). */
  inputType(name: string): ElementType {
    const info = this.inputs.get(name);
    if (!info) throw new Error(`${this.path} has no input named ${name}`);
    return info.type;
  }

  async run(feeds: Record<string, HostTensor>, outputNames?: readonly string[]): Promise<Record<string, HostTensor>> {
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [name, tensor] of Object.entries(feeds)) {
      const info = this.inputs.get(name);
      if (!info) throw new Error(`${this.path} has no input named ${name}`);
      ortFeeds[name] = toOrtTensor(info, tensor);
    }
    const started = performance.now();
    const results = outputNames
      ? await this.session.run(ortFeeds, [...outputNames])
      : await this.session.run(ortFeeds);
    this.runMs += performance.now() - started;
    this.runCount++;
    const out: Record<string, HostTensor> = {};
    for (const [name, t] of Object.entries(results)) out[name] = fromOrtTensor(t);
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.release();
  }
}
