/**
 * `kiln render`'s ControlNet flags (docs/controlnet.md): `--controlnet` names ControlNets as local
 * files or folders (`model.onnx` inside), `library:<name>` from KILN_ASSETS_DIR, or `model:controlnet`
 * inside the model folder; `--controlnet-image` gives their conditioning images; the scale and early
 * stop take one value or one per ControlNet, comma-separated. The request the schema validates
 * names each local ControlNet by its folder or file name (so a `…canny…` ControlNet gets Canny
 * preprocessing as an asset of that name would), and the files go to the renderer as a worker's
 * asset cache hands them over.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig } from '@kiln/config';
import { LIBRARY_PREFIX, MODEL_CONTROLNET_PREFIX } from '@kiln/contracts';

/** The flags this module reads (camelCase, as commander gives them). */
export const CONTROLNET_FLAGS = new Set([
  'controlnet',
  'controlnetImage',
  'controlnetConditioningScale',
  'controlnetEarlyStop',
  'controlnetPreprocess',
]);

export class ControlNetFlagError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(message);
  }
}

const list = (value: unknown): string[] =>
  String(value)
    .split(',')
    .map((s) => s.trim());

/** A number, or a list of numbers; what is not a number is left for the schema to report. */
const numbers = (value: unknown): number | number[] => {
  const parts = list(value).map((s) => (s === '' ? NaN : Number(s)));
  return parts.length === 1 ? parts[0] : parts;
};

/** The `model.onnx` a reference names, or a {@link ControlNetFlagError}. */
async function controlNetFile(ref: string): Promise<string> {
  if (ref.startsWith(LIBRARY_PREFIX)) {
    const dir = loadConfig().assetsDir;
    const name = ref.slice(LIBRARY_PREFIX.length);
    if (!dir) throw new ControlNetFlagError('--controlnet', `${ref}: set KILN_ASSETS_DIR to use library assets`);
    const file = path.join(dir, 'controlnet', name, 'model.onnx');
    if (/[/\\]/.test(name) || !(await stat(file).catch(() => undefined))) {
      throw new ControlNetFlagError('--controlnet', `no controlnet named ${name} in ${path.join(dir, 'controlnet')}`);
    }
    return file;
  }
  const info = await stat(ref).catch(() => undefined);
  if (!info) throw new ControlNetFlagError('--controlnet', `no such file or folder: ${ref}`);
  const file = info.isDirectory() ? path.join(ref, 'model.onnx') : ref;
  if (!(await stat(file).catch(() => undefined))) {
    throw new ControlNetFlagError('--controlnet', `${ref} has no model.onnx`);
  }
  return path.resolve(file);
}

/** The name a local ControlNet gets in the request: its folder (for `…/model.onnx`) or file name. */
function standInName(file: string, taken: Set<string>): string {
  const base = path.basename(file) === 'model.onnx' ? path.basename(path.dirname(file)) : path.parse(file).name;
  let name = base.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'controlnet';
  name = name.slice(0, 120);
  for (let i = 2; taken.has(name); i++) name = `${name.replace(/-\d+$/, '')}-${i}`;
  taken.add(name);
  return name;
}

/**
 * Puts the ControlNet fields into `request` (images as base64, local ControlNets by stand-in
 * names); returns the stand-in names' files.
 */
export async function takeControlNetFlags(
  flags: Record<string, unknown>,
  request: Record<string, unknown>,
): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  if (typeof flags.controlnet === 'string') {
    const taken = new Set<string>();
    const names: string[] = [];
    for (const ref of list(flags.controlnet)) {
      if (ref.startsWith(MODEL_CONTROLNET_PREFIX)) {
        names.push(ref);
        continue;
      }
      const file = await controlNetFile(ref);
      const name = standInName(file, taken);
      files[name] = file;
      names.push(name);
    }
    request.controlnet = names.length === 1 ? names[0] : names;
  }
  if (typeof flags.controlnetImage === 'string') {
    const images = await Promise.all(
      list(flags.controlnetImage).map((file) =>
        readFile(file).then(
          (bytes) => bytes.toString('base64'),
          () => {
            throw new ControlNetFlagError('--controlnet-image', `cannot read ${file}`);
          },
        ),
      ),
    );
    request.controlnet_image = images.length === 1 ? images[0] : images;
  }
  if (flags.controlnetConditioningScale !== undefined) {
    request.controlnet_conditioning_scale = numbers(flags.controlnetConditioningScale);
  }
  if (flags.controlnetEarlyStop !== undefined) request.controlnet_early_stop = numbers(flags.controlnetEarlyStop);
  if (flags.controlnetPreprocess === true) request.controlnet_preprocess = true;
  return files;
}
