/**
 * A model folder with a `safety_checker/` has its images checked: flagged images come back with
 * `image_b64: null`, `removed_for_safety: true` and their seed; scores pass through.
 * The testkit's stand-in checker flags images brighter than a threshold.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSafetyChecker } from '@kiln/testkit';
import { ensureTestModel, postJson, startHarness, type Harness } from './harness.js';

async function modelWithChecker(name: string, threshold: number): Promise<void> {
  const dir = await ensureTestModel(name);
  if (!existsSync(path.join(dir, 'safety_checker', 'model.onnx'))) await writeSafetyChecker(dir, threshold);
}

let h: Harness;
beforeAll(async () => {
  await modelWithChecker('tiny-sd15-checker-flags-all', -1000);
  await modelWithChecker('tiny-sd15-checker-flags-none', 1000);
  h = await startHarness();
});
afterAll(() => h?.stop());

const request = {
  prompt: 'a cat',
  steps: 2,
  num_images: 2,
  seed: [1, 2],
  image_encoding: 'png',
  width: 512,
  height: 512,
};

describe('safety checker', () => {
  it('removes flagged images and keeps their seeds', async () => {
    const res = await postJson(`${h.url}/generate/sd`, { ...request, checkpoint: 'tiny-sd15-checker-flags-all' });
    expect(res.status, res.text).toBe(200);
    for (const [i, image] of res.json.images.entries()) {
      expect(image).toMatchObject({ image_b64: null, removed_for_safety: true, seed: [1, 2][i] });
      expect(typeof image.safety_score).toBe('number');
    }
    const job = await (await fetch(`${h.url}/v1/jobs/${res.json.id}`)).json();
    expect(job.images[0].url).toBeNull();
  });

  it('passes clean images with their score', async () => {
    const res = await postJson(`${h.url}/generate/sd`, { ...request, checkpoint: 'tiny-sd15-checker-flags-none' });
    expect(res.status).toBe(200);
    for (const image of res.json.images) {
      expect(image.removed_for_safety).toBe(false);
      expect(image.image_b64.length).toBeGreaterThan(100);
      expect(typeof image.safety_score).toBe('number');
    }
  });

  it('reports null scores and never removes images when the model has no checker', async () => {
    const res = await postJson(`${h.url}/generate/sd`, request);
    expect(res.json.images.every((i: any) => i.safety_score === null && i.removed_for_safety === false)).toBe(true);
  });
});
