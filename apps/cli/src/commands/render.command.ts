/**
 * `kiln render`: one generation in-process, no Redis. Every request field is a --kebab-case
 * flag; the flags are assembled into the same request object the API takes and validated by the
 * same schema, so the CLI and the API can never disagree on a rule.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { createSd15RequestSchema, resolveSeeds, toValidationErrorBody, type Sd15Request } from '@kiln/contracts';
import { FILE_EXTENSIONS, Renderer, RenderInputError, encodeImage, type Sd15RenderParams } from '@kiln/diffusion';

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

/** The image inputs (read from the flags' files, base64 after validation) and their settings. */
function imageEditingParams(request: Sd15Request): Partial<Sd15RenderParams> {
  if (request.init_image === undefined && request.mask_image === undefined) return {};
  const bytes = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, 'base64'));
  return {
    initImage: bytes(request.init_image),
    maskImage: bytes(request.mask_image),
    strength: request.strength,
    outpainting: request.outpainting,
    maskBlur: request.mask_blur,
    fullRes: request.inpaint_full_res,
    fullResPadding: request.inpaint_full_res_padding,
    pasteOriginal: request.inpaint_paste_original,
  };
}

/** An input the render refused (e.g. an image that cannot be decoded): name the flag, exit 2. */
function reportInputError(err: unknown): undefined {
  if (!(err instanceof RenderInputError)) throw err;
  console.error(`--${(err.field ?? 'input').replace(/_/g, '-')}: ${err.message}`);
  process.exitCode = 2;
  return undefined;
}

export async function renderCommand(flags: RenderFlags): Promise<void> {
  // The CLI renders at any multiple of 8: the allowed-pairs rule is an API operator's policy.
  const parsed = createSd15RequestSchema({ allowAnyResolution: true }).safeParse(await buildRequest(flags));
  if (!parsed.success) {
    const body = toValidationErrorBody(parsed.error);
    for (const d of body.detail) console.error(`--${String(d.loc.at(-1)).replace(/_/g, '-')}: ${d.msg}`);
    process.exitCode = 2;
    return;
  }
  const request = parsed.data;
  const seeds = resolveSeeds(request.seed, request.num_images, () => randomInt(0, 2 ** 32));
  const renderer = new Renderer({ executionProvider: 'cpu' });
  try {
    const result = await renderer.render({
      family: 'sd15',
      modelDir: path.resolve(flags.model),
      params: {
        prompt: request.prompt,
        negativePrompt: request.negative_prompt ?? '',
        sampler: request.sampler,
        steps: request.steps,
        cfgScale: request.cfg_scale,
        width: request.width,
        height: request.height,
        seeds,
        clipSkip: request.clip_skip,
        microBatchSize: Number(flags.microBatch ?? 4),
        rng: flags.rng ?? 'cpu',
        ...imageEditingParams(request),
      },
    }).catch(reportInputError);
    if (!result) return;
    await mkdir(flags.out, { recursive: true });
    const extension = FILE_EXTENSIONS[request.image_encoding];
    const files: string[] = [];
    for (const [index, image] of result.images.entries()) {
      const file = `${index}.${extension}`;
      await writeFile(path.join(flags.out, file), await encodeImage(image.pixels, image.width, image.height, request.image_encoding));
      files.push(file);
    }
    const { init_image: _i, mask_image: _m, ...parameters } = request;
    await writeFile(
      path.join(flags.out, 'result.json'),
      JSON.stringify({ model: path.resolve(flags.model), seeds, files, timings: result.timings, parameters }, null, 2),
    );
    console.log(`wrote ${files.join(', ')} and result.json to ${flags.out} (${Math.round(result.timings.totalMs)} ms)`);
  } finally {
    await renderer.dispose();
  }
}
