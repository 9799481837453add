/**
 * The compatibility contract with OctoAI's Fern SDK, `@octoai/sdk` 1.11.0, unmodified, against a
 * real Kiln (API, Redis, worker, tiny models): every field of its `ImageGenerationRequest` at a
 * valid value, every value of its `Scheduler` type, its typed errors (422 → UnprocessableEntityError
 * with FastAPI's `detail`, 401, 429), and its automatic retries of a 504 making one job.
 *
 * SD3 goes through `imageGen.generateSd3` as it is. The SDK has no SD1.5 method any more (OctoAI
 * dropped it before 1.11.0); its request type is the same for every engine, so SD1.5 goes through
 * `imageGen.generateSdxl` with the URL pointed at `/generate/sd` by the SDK's own `fetcher` option,
 * wrapping the SDK's own fetcher: serialisation, auth header, retries and error classes stay the SDK's.
 */
import { createLogger } from '@kiln/config';
import { decodeToRgb, encodeImage } from '@kiln/diffusion';
import { startRenderWorker, type RenderWorker } from '@kiln/worker';
import { OctoAI, OctoAIClient, OctoAIError } from '@octoai/sdk';
import { fetcher as sdkFetcher, type FetchFunction } from '@octoai/sdk/core/index.js';
import * as serializers from '@octoai/sdk/serialization/index.js';
import { existsSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, tinyModelsDir, type Harness } from './harness.js';
import { client, keysFileWith, newKey } from './tenancy-helpers.js';

type Request = OctoAI.imageGen.ImageGenerationRequest;

const key = newKey('sdk-user', 'acme');
const throttled = newKey('sdk-throttled', 'acme', { rate_limit_per_minute: 1 });
const SIZE = 64;

/** The SDK's fetcher, with SDXL's URL sent to Kiln's SD1.5 endpoint. */
const toSd15: FetchFunction = (args) =>
  sdkFetcher({ ...args, url: args.url.replace(/\/generate\/sdxl$/, '/generate/sd') });

/** Fields of the SDK's request type sent in a call Kiln answered 200, and in one it refused by name. */
const honoured = new Set<string>();
const refused = new Set<string>();

function sdk(url: string, token: string) {
  const octo = new OctoAIClient({
    apiKey: token,
    environment: { default: url, imageGen: url, textGen: url },
    fetcher: toSd15,
  });
  const noting = async <T>(r: Request, call: Promise<T>) => {
    const res = await call;
    for (const field of Object.keys(r)) honoured.add(field);
    return res;
  };
  return {
    sd15: (r: Request, o?: object) => noting(r, octo.imageGen.generateSdxl(r, o)),
    sd3: (r: Request) => noting(r, octo.imageGen.generateSd3(r)),
  };
}

/** An RGB test card and a mask with a white square in the middle, as base64 PNGs. */
async function images() {
  const rgb = new Uint8Array(SIZE * SIZE * 3);
  const mask = new Uint8Array(SIZE * SIZE * 3);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      rgb.set([x * 4, y * 4, 128], (y * SIZE + x) * 3);
      if (x >= 16 && x < 48 && y >= 16 && y < 48) mask.set([255, 255, 255], (y * SIZE + x) * 3);
    }
  }
  const png = async (data: Uint8Array) => (await encodeImage(data, SIZE, SIZE, 'png')).toString('base64');
  return { initImage: await png(rgb), maskImage: await png(mask) };
}

/** Calls `fn` and returns what it throws (fails the test if it does not throw). */
async function thrown(fn: () => Promise<unknown>): Promise<OctoAIError> {
  const outcome = await fn().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome).toBeInstanceOf(OctoAIError);
  return outcome as OctoAIError;
}

/** The snake_case body the SDK sends for a partial request (its own serialiser), without the prompt. */
async function serialized(extra: Partial<Request>): Promise<Record<string, unknown>> {
  const { prompt: _prompt, ...body } = await serializers.imageGen.ImageGenerationRequest.jsonOrThrow({
    prompt: 'x',
    ...extra,
  });
  return body;
}

const detailOf = (err: OctoAIError) => (err.body as { detail: { loc: (string | number)[]; type: string }[] }).detail;

let h: Harness;
let octo: ReturnType<typeof sdk>;
let pictures: Awaited<ReturnType<typeof images>>;
const base = {
  prompt: 'a lighthouse',
  width: SIZE,
  height: SIZE,
  steps: 2,
  seed: 5,
  imageEncoding: 'png',
} satisfies Request;

beforeAll(async () => {
  const sd3 = path.join(await tinyModelsDir(), 'diffusers-tiny-sd3');
  const fixture = path.resolve(import.meta.dirname, 'fixtures', 'diffusers-tiny-sd3');
  if (!existsSync(sd3)) await symlink(fixture, sd3).catch(() => undefined);
  h = await startHarness({
    KILN_KEYS_FILE: await keysFileWith([key, throttled]),
    KILN_HOST: '127.0.0.1',
    KILN_ALLOW_ANY_RESOLUTION: '1',
    KILN_SD3_MODEL: 'diffusers-tiny-sd3',
  });
  octo = sdk(h.url, key.token);
  pictures = await images();
});
afterAll(() => h?.stop());

describe('@octoai/sdk 1.11.0: every request field', () => {
  it('SD1.5 text-to-image with every field it honours, at valid values, parses as the SDK type', async () => {
    const res = await octo.sd15({
      ...base,
      negativePrompt: 'fog',
      cfgScale: 7.5,
      checkpoint: 'tiny-sd15',
      clipSkip: 2,
      numImages: 2,
      seed: [11, 12],
      sampler: 'K_EULER_ANCESTRAL',
      stylePreset: 'anime',
      logPrompt: true,
      useRefiner: true,
      highNoiseFrac: 0.8,
      loras: {},
      textualInversions: {},
    });
    expect(res.images.map((i) => i.seed)).toEqual([11, 12]);
    for (const image of res.images) {
      expect(image.removedForSafety).toBe(false);
      const decoded = await decodeToRgb(Buffer.from(image.imageB64, 'base64'));
      expect([decoded.width, decoded.height]).toEqual([SIZE, SIZE]);
    }
    expect(res.predictionTimeMs).toBeGreaterThan(0);
  });

  it('SD1.5 image-to-image, inpainting (full-res) and outpainting', async () => {
    const img2img = await octo.sd15({ ...base, initImage: pictures.initImage, strength: 0.5 });
    const inpaint = await octo.sd15({
      ...base,
      ...pictures,
      strength: 1,
      inpaintFullRes: true,
      inpaintFullResPadding: 8,
    });
    const outpaint = await octo.sd15({ ...base, ...pictures, outpainting: true });
    const decoded = await Promise.all(
      [img2img, inpaint, outpaint].map((r) => decodeToRgb(Buffer.from(r.images[0]!.imageB64, 'base64'))),
    );
    for (const image of decoded) expect([image.width, image.height]).toEqual([SIZE, SIZE]);
    // Inpainting pastes the original back outside the mask: the corner pixel is the input's.
    const input = await decodeToRgb(Buffer.from(pictures.initImage, 'base64'));
    expect([...decoded[1]!.pixels.subarray(0, 3)]).toEqual([...input.pixels.subarray(0, 3)]);
  });

  it('SD3 through generateSd3 with its fields, the second prompts included', async () => {
    const res = await octo.sd3({
      ...base,
      negativePrompt: 'fog',
      prompt2: 'a red lighthouse',
      negativePrompt2: 'rain',
      cfgScale: 3,
      stylePreset: 'cinematic',
      logPrompt: false,
      useRefiner: false,
      highNoiseFrac: 1,
      initImage: pictures.initImage,
      strength: 0.8,
    });
    expect(res.images).toHaveLength(1);
    expect(res.images[0]!.seed).toBe(5);
  });

  // Fields of the SDK type that Kiln cannot honour on SD1.5, or values naming what does not exist
  // (an asset, a ControlNet), or a ControlNet field without its ControlNet: a 422 naming the field,
  // surfacing as the SDK's UnprocessableEntityError. ControlNets themselves: controlnet.e2e.test.ts.
  it.each<[keyof Request, Partial<Request>]>([
    ['controlnet', { controlnet: 'depth', controlnetImage: 'aGk=' }],
    ['controlnetImage', { controlnetImage: 'aGk=' }],
    ['controlnetConditioningScale', { controlnetConditioningScale: 0.5 }],
    ['controlnetEarlyStop', { controlnetEarlyStop: 0.5 }],
    ['controlnetPreprocess', { controlnetPreprocess: true }],
    ['transferImages', { transferImages: { sks: ['aGk='] } }],
    ['prompt2', { prompt2: 'only SD3 and SDXL have a second text encoder' }],
    ['negativePrompt2', { negativePrompt2: 'idem' }],
    ['highNoiseFrac', { highNoiseFrac: 0.5 }],
    ['vae', { vae: 'no-such-vae' }],
    ['loras', { loras: { 'no-such-lora': 0.5 } }],
    ['textualInversions', { textualInversions: { 'no-such-ti': 'sks' } }],
  ])('SD1.5 refuses %s with a 422 naming it', async (field, extra) => {
    refused.add(field);
    const wire = Object.keys(await serialized(extra))[0]!;
    const err = await thrown(() => octo.sd15({ ...base, ...extra }));
    expect(err).toBeInstanceOf(OctoAI.imageGen.UnprocessableEntityError);
    expect(err.statusCode).toBe(422);
    // At the field, or inside it (`["body", "loras", "<name>"]` for an asset that does not exist).
    expect(detailOf(err).map((d) => d.loc.slice(0, 2))).toContainEqual(['body', wire]);
  });
});

describe('@octoai/sdk 1.11.0: coverage', () => {
  // Reads what the tests above sent: meaningful when the whole file runs, in order.
  it("the calls above sent every field of the SDK's request type, each honoured or refused by name", async () => {
    const all = await serializers.imageGen.ImageGenerationRequest._getParsedProperties();
    expect([...new Set([...honoured, ...refused])].sort()).toEqual([...all].sort());
  });
});

describe('GET /v1/style-presets', () => {
  it("lists exactly the SDK's SdxlStyles, each with its templates, to a caller with a key", async () => {
    const listed = await client(h.url, key.token).get('/v1/style-presets');
    expect(listed.status).toBe(200);
    const presets = listed.json.presets as { name: string; prompt: string; negative_prompt: string }[];
    expect(presets.map((p) => p.name)).toEqual(Object.values(OctoAI.imageGen.SdxlStyles));
    for (const preset of presets) {
      expect(preset.prompt).toContain('{prompt}');
      expect(typeof preset.negative_prompt).toBe('string');
    }
    expect((await client(h.url).get('/v1/style-presets')).status).toBe(401);
  });
});

describe('@octoai/sdk 1.11.0: every Scheduler value', () => {
  const samplers = Object.values(OctoAI.imageGen.Scheduler);

  it("lists the 21 samplers of OctoAI's spec", () => {
    expect(samplers).toHaveLength(21);
  });

  it.each(samplers)('%s renders on SD1.5', async (sampler) => {
    const res = await octo.sd15({ ...base, sampler, cfgScale: sampler === 'LCM' ? 1.5 : 7 });
    expect(res.images[0]!.seed).toBe(5);
  });
});

describe('@octoai/sdk 1.11.0: typed errors', () => {
  it("a validation failure is an UnprocessableEntityError with FastAPI's detail", async () => {
    const err = await thrown(() => octo.sd15({ ...base, steps: 0 }));
    expect(err).toBeInstanceOf(OctoAI.imageGen.UnprocessableEntityError);
    expect(detailOf(err)).toEqual([expect.objectContaining({ loc: ['body', 'steps'], type: 'greater_than_equal' })]);
  });

  it('a job refused for its input by the worker is an UnprocessableEntityError at that field', async () => {
    // The tiny model's text encoder has fewer than 12 layers: only the worker, with the model, knows.
    const err = await thrown(() => octo.sd15({ ...base, clipSkip: 12 }));
    expect(err).toBeInstanceOf(OctoAI.imageGen.UnprocessableEntityError);
    expect(detailOf(err)).toEqual([expect.objectContaining({ loc: ['body', 'clip_skip'] })]);
    expect((err.body as { error: { code: string } }).error.code).toBe('input_rejected');
  });

  it('an unknown key is a 401 OctoAIError', async () => {
    const err = await thrown(() => sdk(h.url, 'not-a-key').sd15(base));
    expect(err.statusCode).toBe(401);
    expect((err.body as { error: { code: string } }).error.code).toBe('unauthorized');
  });

  it("over the rate limit is a 429 OctoAIError after the SDK's own retries, and nothing was queued", async () => {
    const limited = sdk(h.url, throttled.token);
    const kiln = client(h.url, key.token);
    const before = (await kiln.get('/v1/jobs?limit=200')).json.jobs.length;
    await thrown(() => limited.sd15({ ...base, steps: 0 })); // spends the one request of the minute
    const err = await thrown(() => limited.sd15(base));
    expect(err.statusCode).toBe(429);
    expect((err.body as { error: { code: string } }).error.code).toBe('rate_limited');
    expect((await kiln.get('/v1/jobs?limit=200')).json.jobs.length).toBe(before);
  });
});

describe('@octoai/sdk 1.11.0: its retries of a 504 make one job', () => {
  let slow: Harness;
  let worker: RenderWorker | undefined;
  beforeAll(async () => {
    // No worker at first: every sync wait runs out, as on a busy Kiln.
    slow = await startHarness(
      {
        KILN_KEYS_FILE: await keysFileWith([key]),
        KILN_HOST: '127.0.0.1',
        KILN_ALLOW_ANY_RESOLUTION: '1',
        KILN_SYNC_TIMEOUT_MS: '500',
      },
      { worker: false },
    );
  });
  afterAll(async () => {
    await worker?.close();
    await slow?.stop();
  });

  it('three 504s (the call and its two retries), one job; a later call gets its images', async () => {
    const kiln = client(slow.url, key.token);
    const octoSlow = sdk(slow.url, key.token);
    const err = await thrown(() => octoSlow.sd15(base));
    expect(err.statusCode).toBe(504);
    const jobs = (await kiln.get('/v1/jobs')).json.jobs as { id: string }[];
    expect(jobs).toHaveLength(1);
    expect((err.body as { error: { job_id: string } }).error.job_id).toBe(jobs[0]!.id);

    worker = await startRenderWorker({ config: slow.config, logger: createLogger('test', 'silent') });
    // Retried by the SDK until the job is done (the first render loads the model).
    const res = await octoSlow.sd15(base, { maxRetries: 30 });
    expect((res as unknown as { id: string }).id).toBe(jobs[0]!.id);
    expect((await kiln.get('/v1/jobs')).json.jobs).toHaveLength(1);
  });
});
