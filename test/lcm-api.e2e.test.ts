/**
 * `POST /generate/sd` with `sampler: "LCM"` through the real API, Redis queue and worker (tiny
 * model): it renders, one progress step per LCM step, including when the body carries OctoAI's
 * declared fields at their defaults and nulls the way its clients send them; 51 steps are refused
 * before anything is queued.
 */
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, pollUntil, postJson, startHarness, type Harness } from './harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h?.stop());

const lcm = { prompt: 'a lighthouse', sampler: 'LCM', steps: 4, cfg_scale: 1.5, seed: 7, image_encoding: 'png' };

describe('POST /generate/sd with sampler LCM', () => {
  it('renders: 200 with a decodable 512×512 PNG', async () => {
    const res = await postJson(`${h.url}/generate/sd`, lcm);
    expect(res.status, res.text).toBe(200);
    expect(res.json.images.map((i: { seed: number }) => i.seed)).toEqual([7]);
    const meta = await sharp(Buffer.from(res.json.images[0].image_b64, 'base64')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 512, 512]);
  });

  it('runs one step per LCM step, and an OctoAI-style body (declared fields, nulls) gives the same image', async () => {
    const octoai = {
      ...lcm,
      negative_prompt: null,
      width: null,
      height: null,
      checkpoint: null,
      vae: null,
      loras: null,
      textual_inversions: null,
      clip_skip: null,
      init_image: null,
      mask_image: null,
      style_preset: null,
      prompt_2: null,
      negative_prompt_2: null,
      log_prompt: false,
      use_refiner: true,
      high_noise_frac: 0.8,
    };
    const accepted = await postJson(`${h.url}/generate/sd`, octoai, { 'X-OctoAI-Async': '1' });
    expect(accepted.status, accepted.text).toBe(201);
    const job = await pollUntil(async () => {
      const j = await getJson(`${h.url}/v1/jobs/${accepted.json.response_id}`);
      return j.json.status === 'completed' || j.json.status === 'failed' ? j.json : undefined;
    });
    expect(job).toMatchObject({ status: 'completed', progress: { step: 4, total_steps: 4 } });
    const plain = await postJson(`${h.url}/generate/sd`, lcm);
    const response = await getJson(`${h.url}/v1/responses/${accepted.json.response_id}`);
    expect(response.json.images[0].image_b64).toBe(plain.json.images[0].image_b64);
  });

  it('refuses 51 steps with a 422 at steps', async () => {
    const res = await postJson(`${h.url}/generate/sd`, { ...lcm, steps: 51 });
    expect(res.status).toBe(422);
    expect(res.json.detail).toEqual([
      expect.objectContaining({ loc: ['body', 'steps'], type: 'less_than_equal', msg: expect.stringMatching(/LCM/) }),
    ]);
  });
});
