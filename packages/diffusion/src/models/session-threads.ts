/**
 * The thread settings of every session Kiln creates (docs/benchmarks.md, "Session options", has
 * the sweep that chose the defaults).
 */
import type * as ort from 'onnxruntime-node';
import { physicalCoreCount } from './cpu-cores.js';

export interface ThreadSettings {
  /** Intra-op threads; 0 or absent: one per physical core available to the process (cpu-cores.ts). */
  intraOpThreads?: number;
  /**
   * Whether idle intra-op threads spin before sleeping. Spinning saves the wake-up between two
   * parallel sections of a run, and costs CPU the worker's event loop and its neighbours could use.
   * Default: on (onnxruntime's), as measured fastest within noise.
   */
  allowSpinning?: boolean;
}

/** Nested `extra` session config entries, merged by `mergeExtra`. */
export type SessionExtra = Record<string, unknown>;

/** The intra-op thread count a session gets. */
export function intraOpThreadsFor(settings: ThreadSettings): number {
  return settings.intraOpThreads && settings.intraOpThreads > 0 ? settings.intraOpThreads : physicalCoreCount();
}

/** Thread options for `InferenceSession.create`. */
export function threadOptions(settings: ThreadSettings): Pick<ort.InferenceSession.SessionOptions, 'intraOpNumThreads' | 'extra'> {
  const options: Pick<ort.InferenceSession.SessionOptions, 'intraOpNumThreads' | 'extra'> = {
    intraOpNumThreads: intraOpThreadsFor(settings),
  };
  if (settings.allowSpinning === false) options.extra = { session: { intra_op: { allow_spinning: '0' } } };
  return options;
}

/** Deep-merges nested `extra` objects (onnxruntime flattens them to dotted config keys). */
export function mergeExtra(...parts: (SessionExtra | undefined)[]): SessionExtra | undefined {
  let out: SessionExtra | undefined;
  for (const part of parts) {
    if (!part) continue;
    out ??= {};
    for (const [key, value] of Object.entries(part)) {
      const prev = out[key];
      out[key] =
        isObject(prev) && isObject(value) ? mergeExtra(prev, value) : value;
    }
  }
  return out;
}

const isObject = (v: unknown): v is SessionExtra => typeof v === 'object' && v !== null && !Array.isArray(v);
