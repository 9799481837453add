/**
 * The intra-op thread count of Kiln's sessions, on a real onnxruntime session: one thread per
 * physical core available to the process unless a count is given, and the model says which it got
 * (the benchmark gives a bare session the same count to separate Kiln's graph work from its threads).
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { physicalCoreCount } from './cpu-cores.js';
import { OnnxModel } from './onnx-session.js';
import { intraOpThreadsFor } from './session-threads.js';

const MODEL = path.resolve(import.meta.dirname, '../../../../test/fixtures/diffusers-tiny-sd15/vae_decoder/model.onnx');

describe('intra-op threads', () => {
  it('defaults to the physical cores, and a given count wins', () => {
    expect(intraOpThreadsFor({})).toBe(physicalCoreCount());
    expect(intraOpThreadsFor({ intraOpThreads: 0 })).toBe(physicalCoreCount());
    expect(intraOpThreadsFor({ intraOpThreads: 3 })).toBe(3);
  });

  it('a loaded model reports the count its session was created with', async () => {
    const byDefault = await OnnxModel.load(MODEL, { executionProvider: 'cpu', graphFusions: false });
    const oneThread = await OnnxModel.load(MODEL, { executionProvider: 'cpu', graphFusions: false, intraOpThreads: 1 });
    expect(byDefault.intraOpThreads).toBe(physicalCoreCount());
    expect(oneThread.intraOpThreads).toBe(1);
    await Promise.all([byDefault.dispose(), oneThread.dispose()]);
  });
});
