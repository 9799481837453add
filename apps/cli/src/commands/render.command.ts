/**
 * `kiln render`: one generation in-process, no Redis. Every request field is a --kebab-case
 * flag; the flags are assembled into the same request object the API takes, validated by the
 * same schema, normalised into the same job and mapped to the pipeline by the worker's own
 * `toRenderRequest`, so the CLI and a worker render a request the same way. The model folder's
 * `model_index.json` says whether it is SD1.5 or SD3; the request is validated for that family.
 */
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { loadConfig } from '@kiln/config';
import {
  LIBRARY_PREFIX,
  parseGenerateRequest,
  resolveSeeds,
  toJobRequest,
  type GenerateRequest,
  type ModelFamily,
  type RenderJobData,
} from '@kiln/contracts';
import { FILE_EXTENSIONS, Renderer, RenderInputError, encodeImage, type Sd15AssetSet } from '@kiln/diffusion';
import { toRenderRequest, type InputImages } from '@kiln/worker';
import { CONTROLNET_FLAGS, ControlNetFlagError, takeControlNetFlags } from './render-controlnet.js';

export interface RenderFlags {
  model: string;
  out: string;
  microBatch?: string;
  rng?: 'cpu' | 'nv';
  [flag: string]: unknown;
}

const NUMBER_FIELDS = new Set([
  'cfg_scale',
  'steps',
  'num_images',
  'width',
  'height',
  'strength',
  'clip_skip',
  'mask_blur',
  'inpaint_full_res_padding',
]);
const IMAGE_FIELDS = new Set(['init_image', 'mask_image']);
const CLI_ONLY = new Set(['model', 'out', 'microBatch', 'rng']);
/** Flags that name files or folders: {@link takeAssetFlags} reads them. */
const ASSET_FLAGS = new Set(['loras', 'textualInversions', 'vae', 'checkpoint']);

const snake = (camel: string) => camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

function parseSeed(value: string): number | (number | null)[] {
  const parts = value.split(',').map((s) => s.trim());
  const asNumber = (s: string) => (s === 'null' || s === '' ? null : Number(s));
  return parts.length === 1 ? Number(parts[0]) : parts.map(asNumber);
}

/**
 * The asset flags name local files and folders (`--loras style.safetensors=0.8`), or `library:`
 * names from KILN_ASSETS_DIR (docs/assets.md). The request the schema validates carries stand-in
 * names (`lora-0`, …) in the same order, and the files go to the renderer as the worker's cached
 * copies do, so the CLI applies assets exactly as a worker does.
 */
interface AssetFlags {
  set: Sd15AssetSet;
  /** Local path → the flag that named it, for error messages. */
  flags: Map<string, string>;
}

/** Where each kind lives in the library folder: file extensions, or a folder. */
const LIBRARY_FILES: Record<'lora' | 'textual_inversion' | 'vae' | 'checkpoint', string[] | 'folder'> = {
  lora: ['.safetensors'],
  textual_inversion: ['.pt', '.safetensors', '.bin'],
  vae: 'folder',
  checkpoint: 'folder',
};

class AssetFlagError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(message);
  }
}

async function localAsset(ref: string, type: keyof typeof LIBRARY_FILES, flag: string): Promise<string> {
  if (ref.startsWith(LIBRARY_PREFIX)) {
    const dir = loadConfig().assetsDir;
    const name = ref.slice(LIBRARY_PREFIX.length);
    if (!dir) throw new AssetFlagError(flag, `${ref}: set KILN_ASSETS_DIR to use library assets`);
    const layout = LIBRARY_FILES[type];
    const candidates = layout === 'folder' ? [name] : layout.map((extension) => name + extension);
    for (const candidate of candidates) {
      const file = path.join(dir, type, candidate);
      if (!/[/\\]/.test(name) && (await stat(file).catch(() => undefined))) return file;
    }
    throw new AssetFlagError(flag, `no ${type} named ${name} in ${path.join(dir, type)}`);
  }
  if (!(await stat(ref).catch(() => undefined))) throw new AssetFlagError(flag, `no such file or folder: ${ref}`);
  return path.resolve(ref);
}

/** `a=1,b=2` as pairs; a value that is not a number is left for the schema to report. */
function pairs(value: string): Array<[string, string]> {
  return value.split(',').map((pair) => {
    const at = pair.lastIndexOf('=');
    return at < 0 ? [pair.trim(), ''] : [pair.slice(0, at).trim(), pair.slice(at + 1).trim()];
  });
}

/** Replaces the asset flags' files by stand-in names in `request`; returns the renderer's asset set. */
async function takeAssetFlags(flags: RenderFlags, request: Record<string, unknown>): Promise<AssetFlags> {
  const set: { loras?: Sd15AssetSet['loras']; textualInversions?: Sd15AssetSet['textualInversions']; vae?: string } =
    {};
  const named = new Map<string, string>();
  if (typeof flags.loras === 'string') {
    const loras = await Promise.all(
      pairs(flags.loras).map(async ([ref, weight]) => [await localAsset(ref, 'lora', '--loras'), weight]),
    );
    request.loras = Object.fromEntries(
      loras.map(([, weight], i) => [`lora-${i}`, weight === '' ? NaN : Number(weight)]),
    );
    set.loras = loras.map(([file, weight]) => ({ file, weight: Number(weight) }));
    for (const [file] of loras) named.set(file, '--loras');
  }
  if (typeof flags.textualInversions === 'string') {
    const flag = '--textual-inversions';
    const inversions = await Promise.all(
      pairs(flags.textualInversions).map(async ([ref, trigger]) => [
        await localAsset(ref, 'textual_inversion', flag),
        trigger,
      ]),
    );
    request.textual_inversions = Object.fromEntries(inversions.map(([, trigger], i) => [`embedding-${i}`, trigger]));
    set.textualInversions = inversions.map(([file, trigger]) => ({ file, trigger }));
    for (const [file] of inversions) named.set(file, flag);
  }
  if (typeof flags.vae === 'string') {
    set.vae = await localAsset(flags.vae, 'vae', '--vae');
    request.vae = 'vae';
    named.set(set.vae, '--vae');
  }
  return { set, flags: named };
}

async function buildRequest(flags: RenderFlags): Promise<Record<string, unknown>> {
  const request: Record<string, unknown> = {};
  for (const [flag, value] of Object.entries(flags)) {
    if (CLI_ONLY.has(flag) || ASSET_FLAGS.has(flag) || CONTROLNET_FLAGS.has(flag) || value === undefined) continue;
    // commander gives `--no-…` options their default (true) when absent: that is "not sent".
    if (flag === 'inpaintPasteOriginal' && value === true) continue;
    const field = snake(flag);
    if (field === 'seed') request.seed = parseSeed(String(value));
    else if (NUMBER_FIELDS.has(field)) request[field] = Number(value);
    else if (IMAGE_FIELDS.has(field)) request[field] = (await readFile(String(value))).toString('base64');
    else request[field] = value;
  }
  return request;
}

/**
 * An input the render refused (an image that cannot be decoded, an asset that does not fit the
 * model or is not a valid file): name the flag, exit 2.
 */
function reportInputError(err: unknown, assets: AssetFlags): undefined {
  if (err instanceof Error && err.name === 'AssetError') {
    const flag = [...assets.flags].find(([file]) => err.message.includes(path.basename(file)))?.[1] ?? '--loras';
    console.error(`${flag}: ${err.message}`);
  } else if (err instanceof RenderInputError) {
    console.error(`--${(err.field ?? 'input').replace(/_/g, '-')}: ${err.message}`);
  } else {
    throw err;
  }
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
  const body = await buildRequest(flags);
  let assets: AssetFlags;
  let modelDir: string;
  let controlnetFiles: Record<string, string>;
  try {
    assets = await takeAssetFlags(flags, body);
    controlnetFiles = await takeControlNetFlags(flags, body);
    // `--checkpoint` names another model folder (or a library checkpoint), as a request's does on a worker.
    modelDir =
      typeof flags.checkpoint === 'string'
        ? await localAsset(flags.checkpoint, 'checkpoint', '--checkpoint')
        : path.resolve(flags.model);
  } catch (err) {
    if (!(err instanceof AssetFlagError) && !(err instanceof ControlNetFlagError)) throw err;
    console.error(`${err.flag}: ${err.message}`);
    process.exitCode = 2;
    return;
  }
  const family = await familyOf(modelDir);
  // The CLI renders at any multiple of 8: the allowed-pairs rule is an API operator's policy.
  const parsed = parseGenerateRequest(family, body, { allowAnyResolution: true });
  if (!parsed.success) {
    for (const d of parsed.body.detail) {
      // The field, not a list index after it (`controlnet_image.1` is --controlnet-image).
      const field = d.loc.filter((part) => typeof part === 'string').at(-1);
      console.error(`--${String(field).replace(/_/g, '-')}: ${d.msg}`);
    }
    process.exitCode = 2;
    return;
  }
  const request = parsed.data;
  const job = localJob(request);
  const images: InputImages = {};
  if (request.init_image !== undefined) images.init_image = Buffer.from(request.init_image, 'base64');
  if (request.mask_image !== undefined) images.mask_image = Buffer.from(request.mask_image, 'base64');
  if (request.family === 'sd15' && request.controlnet_image !== undefined) {
    images.controlnet_images = [request.controlnet_image].flat().map((b64) => Buffer.from(b64, 'base64'));
  }
  const { seeds } = job;
  const renderer = new Renderer({ executionProvider: 'cpu' });
  try {
    const settings = { microBatchSize: Number(flags.microBatch ?? 4), rng: flags.rng ?? 'cpu' };
    // Mapping the job can refuse it too (a model:controlnet the model folder lacks).
    const render = async () => {
      const assetSet = Object.keys(assets.set).length > 0 ? assets.set : undefined;
      return renderer.render(toRenderRequest(job, modelDir, images, settings, assetSet, controlnetFiles));
    };
    const result = await render().catch((err: unknown) => reportInputError(err, assets));
    if (!result) return;
    await mkdir(flags.out, { recursive: true });
    const extension = FILE_EXTENSIONS[job.request.image_encoding];
    const files: string[] = [];
    for (const [index, image] of result.images.entries()) {
      const file = `${index}.${extension}`;
      await writeFile(
        path.join(flags.out, file),
        await encodeImage(image.pixels, image.width, image.height, job.request.image_encoding),
      );
      files.push(file);
    }
    await writeFile(
      path.join(flags.out, 'result.json'),
      JSON.stringify(
        { model: modelDir, seeds, files, timings: result.timings, parameters: job.request, assets: result.assets },
        null,
        2,
      ),
    );
    console.log(`wrote ${files.join(', ')} and result.json to ${flags.out} (${Math.round(result.timings.totalMs)} ms)`);
  } finally {
    await renderer.dispose();
  }
}
