/**
 * `kiln render`: one generation in-process, no Redis. Every request field is a --kebab-case
 * flag; the flags are assembled into the same request object the API takes, validated by the
 * same schema, normalised into the same job and mapped to the pipeline by the worker's own
 * `toRenderRequest`, so the CLI and a worker render a request the same way. The model folder's
 * `model_index.json` says whether it is SD1.5 or SD3; the request is validated for that family.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import {
  parseGenerateRequest,
  resolveSeeds,
  toJobRequest,
  type GenerateRequest,
  type ModelFamily,
  type RenderJobData,
} from '@kiln/contracts';
import { FILE_EXTENSIONS, Renderer, RenderInputError, encodeImage } from '@kiln/diffusion';
import { toRenderRequest, type InputImages } from '@kiln/worker';

export interface RenderFlags {
  model: string;
  out: string;
  microBatch?: string;
  rng?: 'cpu' | 'nv';
  [flag: string]: unknown;
}

const NUMBER_FIELDS = new Set(['cfg_scale', 'steps', 'num_images', 'width', 'height', 'strength', 'clip_skip', 'mask_blur', 'inpaint_full_res_padding']);
const IMAGE_FIELDS = new Set(['init_image', 'mask_image']);
const CLI_ONLY = new Set(['model', 'out', 'microBatch', 'rng']);

const snake = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function parseSeed(value: string): number | (number | null)[] {
  const parts = value.split(',').map((s) => s.trim());
  const asNumber = (s: string) => (s === 'null' || s === '' ? null : Number(s));
  return parts.length === 1 ? Number(parts[0]) : parts.map(asNumber);
}

function parseAssetMap(value: string, numeric: boolean): Record<string, number | string> {
  return Object.fromEntries(
    value.split(',').map((pair) => {
      const [name, v] = pair.split('=');
      return [name.trim(), numeric ? Number(v) : (v ?? '').trim()];
    }),
  );
}

async function buildRequest(flags: RenderFlags): Promise<Record<string, unknown>> {
  const request: Record<string, unknown> = {};
  for (const [flag, value] of Object.entries(flags)) {
    if (CLI_ONLY.has(flag) || value === undefined) continue;
    // commander gives `--no-…` options their default (true) when absent: that is "not sent".
    if (flag === 'inpaintPasteOriginal' && value === true) continue;
    const field = snake(flag);
    if (field === 'seed') request.seed = parseSeed(String(value));
    else if (NUMBER_FIELDS.has(field)) request[field] = Number(value);
    else if (IMAGE_FIELDS.has(field)) request[field] = (await readFile(String(value))).toString('base64');
    else if (field === 'loras') request.loras = parseAssetMap(String(value), true);
    else if (field === 'textual_inversions') request.textual_inversions = parseAssetMap(String(value), false);
    else request[field] = value;
  }
  return request;
}

/** An input the render refused (e.g. an image that cannot be decoded): name the flag, exit 2. */
function reportInputError(err: unknown): undefined {
  if (!(err instanceof RenderInputError)) throw err;
  console.error(`--${(err.field ?? 'input').replace(/_/g, '-')}: ${err.message}`);
  process.exitCode = 2;
  return undefined;
}

/**
 * The family of a model folder, from the pipeline class diffusers (or optimum) wrote in
 * model_index.json. An unreadable folder counts as SD1.5: the request is still validated (and its
 * flags named) before the renderer reports the folder itself.
 */
async function familyOf(modelDir: string): Promise<ModelFamily> {
  const index = await readFile(path.join(modelDir, 'model_index.json'), 'utf8').then(
    (text) => JSON.parse(text) as { _class_name?: unknown },
    () => ({}) as { _class_name?: unknown },
  );
  return typeof index._class_name === 'string' && index._class_name.startsWith('StableDiffusion3') ? 'sd3' : 'sd15';
}

/** The job `kiln render` runs: what the API's intake would queue for the same request. */
function localJob(request: GenerateRequest): RenderJobData {
  return {
    ...toJobRequest(request),
    seeds: resolveSeeds(request.seed, request.num_images, () => randomInt(0, 2 ** 32)),
    inputs: {},
    tenant: 'local',
    keyId: 'local',
    submittedAt: Date.now(),
    baseUrl: '',
  };
}

export async function renderCommand(flags: RenderFlags): Promise<void> {
  // `--checkpoint` names another model folder, as a request's checkpoint does on a worker.
  const modelDir = path.resolve(typeof flags.checkpoint === 'string' ? flags.checkpoint : flags.model);
  const family = await familyOf(modelDir);
  // The CLI renders at any multiple of 8: the allowed-pairs rule is an API operator's policy.
  const parsed = parseGenerateRequest(family, await buildRequest(flags), { allowAnyResolution: true });
  if (!parsed.success) {
    for (const d of parsed.body.detail) console.error(`--${String(d.loc.at(-1)).replace(/_/g, '-')}: ${d.msg}`);
    process.exitCode = 2;
    return;
  }
  const request = parsed.data;
  const job = localJob(request);
  const images: InputImages = {};
  if (request.init_image !== undefined) images.init_image = Buffer.from(request.init_image, 'base64');
  if (request.mask_image !== undefined) images.mask_image = Buffer.from(request.mask_image, 'base64');
  const { seeds } = job;
  const renderer = new Renderer({ executionProvider: 'cpu' });
  try {
    const settings = { microBatchSize: Number(flags.microBatch ?? 4), rng: flags.rng ?? 'cpu' };
    const result = await renderer.render(toRenderRequest(job, modelDir, images, settings)).catch(reportInputError);
    if (!result) return;
    await mkdir(flags.out, { recursive: true });
    const extension = FILE_EXTENSIONS[job.request.image_encoding];
    const files: string[] = [];
    for (const [index, image] of result.images.entries()) {
      const file = `${index}.${extension}`;
      await writeFile(path.join(flags.out, file), await encodeImage(image.pixels, image.width, image.height, job.request.image_encoding));
      files.push(file);
    }
    await writeFile(
      path.join(flags.out, 'result.json'),
      JSON.stringify({ model: modelDir, seeds, files, timings: result.timings, parameters: job.request }, null, 2),
    );
    console.log(`wrote ${files.join(', ')} and result.json to ${flags.out} (${Math.round(result.timings.totalMs)} ms)`);
  } finally {
    await renderer.dispose();
  }
}
