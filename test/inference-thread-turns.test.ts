/**
 * The inference thread serves renders in turn: renders asked for while one runs wait on the host
 * (two renders interleaved step by step would both take twice as long), an abort while waiting
 * rejects at once, and what waits behind an aborted render still runs after the one in progress.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiffusionThread, RenderAbortedError, type TextToImageParams } from '@kiln/diffusion';
import { ensureTestModel } from './harness.js';

const params = (seed: number, steps: number): TextToImageParams => ({
  prompt: 'a lighthouse',
  negativePrompt: '',
  sampler: 'DDIM',
  steps,
  cfgScale: 7.5,
  width: 64,
  height: 64,
  seeds: [seed],
  clipSkip: 1,
  microBatchSize: 1,
});

let thread: DiffusionThread;
let modelDir: string;
beforeAll(async () => {
  modelDir = await ensureTestModel('tiny-sd15');
  thread = new DiffusionThread();
  await thread.warm(modelDir);
});
afterAll(() => thread?.close());

describe('DiffusionThread turns', () => {
  it('runs renders asked for at once one after the other, never interleaved', async () => {
    const events: string[] = [];
    const render = (name: string, seed: number) =>
      thread.render(
        { family: 'sd15', modelDir, params: params(seed, 6) },
        { onProgress: (p) => events.push(`${name}${p.step}`) },
      );
    const [a, b, c] = await Promise.all([render('a', 1), render('b', 2), render('c', 3)]);
    const owners = events.map((e) => e[0]);
    // Each render's progress events come in one run (steps 1-6, then the decoded image's report).
    expect(owners).toEqual([...owners].sort());
    for (const name of ['a', 'b', 'c'])
      expect(events.filter((e) => e[0] === name).slice(0, 6)).toEqual([1, 2, 3, 4, 5, 6].map((s) => `${name}${s}`));
    expect([a, b, c].map((r) => r.images[0].seed)).toEqual([1, 2, 3]);
  });

  it('rejects a waiting render as soon as it is aborted, and the ones behind it still run in order', async () => {
    const events: string[] = [];
    const controller = new AbortController();
    const first = thread.render(
      { family: 'sd15', modelDir, params: params(1, 20) },
      {
        onProgress: (p) => {
          events.push(`first${p.step}`);
          if (p.step === 1) controller.abort();
        },
      },
    );
    const waiting = thread
      .render(
        { family: 'sd15', modelDir, params: params(2, 20) },
        { signal: controller.signal, onProgress: () => events.push('waiting') },
      )
      .catch((err: unknown) => {
        events.push('waiting-rejected');
        return err;
      });
    const last = thread.render(
      { family: 'sd15', modelDir, params: params(3, 2) },
      { onProgress: (p) => events.push(`last${p.step}`) },
    );

    expect(await waiting).toBeInstanceOf(RenderAbortedError);
    await first;
    await last;
    // Rejected during the first render's second step at the latest; never started; `last` after `first`.
    expect(events.indexOf('waiting-rejected')).toBeLessThan(events.indexOf('first20'));
    expect(events).not.toContain('waiting');
    const lastStarts = events.indexOf('last1');
    expect(lastStarts).toBeGreaterThan(events.lastIndexOf('first20'));
    expect(events.slice(lastStarts).every((e) => e.startsWith('last'))).toBe(true);
  });
});
