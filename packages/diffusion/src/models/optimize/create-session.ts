/**
 * Creates an onnxruntime session for a model file through Kiln's load-time optimisation: the
 * graph fusions (prepare-model.ts) and the optimized-model cache (optimized-model-cache.ts).
 */
import * as ort from 'onnxruntime-node';
import { mergeExtra } from '../session-threads.js';
import { OptimizedModelCache } from './optimized-model-cache.js';
import { FUSIONS_VERSION, prepareModel, type PreparedModel } from './prepare-model.js';

export interface LoadOptimisation {
  /** The optimized-model cache folder; absent: no cache. */
  cacheDir?: string;
  /** Apply Kiln's graph fusions. */
  fuse: boolean;
}

type Options = ort.InferenceSession.SessionOptions;

/** `options` with `extra` merged in (onnxruntime-node refuses an `extra` key holding undefined). */
function withExtra(options: Options, extra: Record<string, unknown> | undefined): Options {
  const merged = mergeExtra(options.extra as Record<string, unknown> | undefined, extra);
  return merged ? { ...options, extra: merged } : options;
}

/** `options` with what a prepared model needs to find its weights. */
function withPrepared(options: Options, prepared: PreparedModel): Options {
  const merged = withExtra(options, prepared.options.extra as Record<string, unknown> | undefined);
  return prepared.options.externalData ? { ...merged, externalData: prepared.options.externalData } : merged;
}

export interface CreatedSession {
  session: ort.InferenceSession;
  /**
   * Every attention of the graph runs in a fused kernel (Kiln's fusion matched all of them): no
   * attention scores are materialised, which the worker-memory estimate counts on.
   */
  attentionFused: boolean;
}

const fullyFused = (prepared: PreparedModel | undefined) =>
  prepared !== undefined && prepared.attention > 0 && prepared.unfusedAttention === 0;

/** The session of `file`, fused unless turned off, from the cache when one is given. */
export async function createSession(file: string, options: Options, how: LoadOptimisation): Promise<CreatedSession> {
  if (!how.cacheDir) {
    const prepared = how.fuse ? await prepareModel(file) : undefined;
    const session = prepared
      ? await ort.InferenceSession.create(prepared.bytes, withPrepared(options, prepared))
      : await ort.InferenceSession.create(file, options);
    return { session, attentionFused: fullyFused(prepared) };
  }
  const salt = `onnxruntime ${ort.env.versions.common}|${options.graphOptimizationLevel}|${how.fuse ? FUSIONS_VERSION : 'no-fusions'}`;
  const entry = await new OptimizedModelCache(how.cacheDir, salt).entry(file);
  if (entry.ready) {
    try {
      // Optimization off: the cached graph is the optimized one.
      const session = await ort.InferenceSession.create(entry.modelFile, { ...options, graphOptimizationLevel: 'disabled' });
      return { session, attentionFused: entry.facts.attentionFused === true };
    } catch {
      // An entry that no longer loads (a partial copy, a disk error): dropped, and the source loaded.
      await entry.discard();
      return createSession(file, options, { fuse: how.fuse });
    }
  }
  try {
    const prepared = how.fuse ? await prepareModel(file) : undefined;
    const saving: Options = {
      ...withExtra(prepared ? withPrepared(options, prepared) : options, entry.saveConfig),
      optimizedModelFilePath: entry.stagingModelFile,
      // onnxruntime warns that a level-`all` model is hardware-specific: the key includes the CPU.
      logSeverityLevel: 3,
    };
    const session = prepared
      ? await ort.InferenceSession.create(prepared.bytes, saving)
      : await ort.InferenceSession.create(file, saving);
    const attentionFused = fullyFused(prepared);
    await entry.commit({ attentionFused });
    return { session, attentionFused };
  } catch (err) {
    await entry.discard();
    throw err;
  }
}
