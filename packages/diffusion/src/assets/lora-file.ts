/**
 * LoRA files in the two formats users bring: kohya/A1111 (`lora_unet_<module_with_underscores>`
 * `.lora_down.weight`/`.lora_up.weight`/`.alpha`) and diffusers/PEFT (`unet.<module>.lora_A.weight`
 * /`lora_B.weight`, alpha in `__metadata__.lora_adapter_metadata`). Both become the same list of
 * layers, each with its own scale alpha/rank, so a kohya file and its PEFT twin merge identically.
 */
import { AssetError } from './asset-error.js';
import type { AssetTensor, SafetensorsFile } from './safetensors.js';

export type LoraComponent = 'unet' | 'text_encoder';

export interface LoraLayer {
  /** The key prefix in the file, for reports. */
  key: string;
  component: LoraComponent;
  /** A PEFT module path (exact), or a kohya name: the module path with every `.` written `_`. */
  target: { kind: 'module'; module: string } | { kind: 'kohya'; flatName: string };
  /** `[out, rank]` or `[out, rank, 1, 1]`. */
  up: AssetTensor;
  /** `[rank, in]` or `[rank, in, kh, kw]`. */
  down: AssetTensor;
  /** alpha / rank (1 when the file gives no alpha). */
  scale: number;
}

export interface LoraFile {
  name: string;
  layers: LoraLayer[];
  /** Keys the parser does not understand (LoHa, DoRA, other models' keys): reported, never silently dropped. */
  unrecognized: string[];
}

const KOHYA = /^lora_(unet|te)_(.+)\.(lora_down\.weight|lora_up\.weight|alpha)$/;
const PEFT = /^(unet|text_encoder)\.(.+)\.(lora_A\.weight|lora_B\.weight)$/;
const PEFT_METADATA_KEY = 'lora_adapter_metadata';

/** Reads the layers of a LoRA safetensors file. */
export function parseLora(file: SafetensorsFile, name: string): LoraFile {
  const groups = new Map<
    string,
    { component: LoraComponent; kohya: boolean; path: string; parts: Map<string, AssetTensor> }
  >();
  const unrecognized: string[] = [];
  for (const [key, tensor] of file.tensors) {
    const kohya = KOHYA.exec(key);
    const peft = kohya ? null : PEFT.exec(key);
    const match = kohya ?? peft;
    if (!match) {
      unrecognized.push(key);
      continue;
    }
    const base = key.slice(0, key.length - match[3].length - 1);
    const component: LoraComponent = match[1] === 'unet' ? 'unet' : 'text_encoder';
    const group = groups.get(base) ?? { component, kohya: kohya !== null, path: match[2], parts: new Map() };
    group.parts.set(match[3], tensor);
    groups.set(base, group);
  }

  const metadata = peftMetadata(file.metadata, name);
  const layers: LoraLayer[] = [];
  for (const [key, group] of groups) {
    const down = group.parts.get(group.kohya ? 'lora_down.weight' : 'lora_A.weight');
    const up = group.parts.get(group.kohya ? 'lora_up.weight' : 'lora_B.weight');
    if (!down || !up) throw new AssetError('invalid_lora', `${key} has ${down ? 'no up' : 'no down'} matrix`, name);
    const rank = checkShapes(key, up, down, name);
    let scale: number;
    if (group.kohya) {
      const alpha = group.parts.get('alpha');
      if (alpha && alpha.values.length !== 1)
        throw new AssetError('invalid_lora', `${key}.alpha is not a scalar`, name);
      scale = alpha ? alpha.values[0] / rank : 1;
    } else {
      scale = peftScale(metadata, group.component, group.path, rank);
    }
    if (!Number.isFinite(scale)) throw new AssetError('invalid_lora', `${key} has a non-finite scale`, name);
    const target = group.kohya
      ? { kind: 'kohya' as const, flatName: group.path }
      : { kind: 'module' as const, module: group.path };
    layers.push({ key, component: group.component, target, up, down, scale });
  }
  if (layers.length === 0)
    throw new AssetError('invalid_lora', 'no LoRA layers found (neither kohya nor PEFT keys)', name);
  return { name, layers, unrecognized };
}

function checkShapes(key: string, up: AssetTensor, down: AssetTensor, name: string): number {
  const fail = (message: string): never => {
    throw new AssetError('invalid_lora', `${key}: ${message}`, name);
  };
  if (down.shape.length !== 2 && down.shape.length !== 4) fail(`down matrix has shape [${down.shape.join(', ')}]`);
  if (up.shape.length !== 2 && !(up.shape.length === 4 && up.shape[2] === 1 && up.shape[3] === 1)) {
    fail(`up matrix has shape [${up.shape.join(', ')}]`);
  }
  const rank = down.shape[0];
  if (rank === 0 || up.shape[1] !== rank)
    fail(`up [${up.shape.join(', ')}] and down [${down.shape.join(', ')}] disagree on the rank`);
  return rank;
}

interface PeftMetadata {
  [key: string]: unknown;
}

function peftMetadata(metadata: Record<string, string>, name: string): PeftMetadata | undefined {
  const raw = metadata[PEFT_METADATA_KEY];
  if (raw === undefined) return undefined;
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) return parsed as PeftMetadata;
  } catch {
    // Reported below.
  }
  throw new AssetError('invalid_lora', `__metadata__.${PEFT_METADATA_KEY} is not a JSON object`, name);
}

/**
 * PEFT's scaling: lora_alpha / r (or / sqrt(r) with rsLoRA), where a module's alpha comes from
 * `alpha_pattern` when a pattern names it. diffusers prefixes every config field with the
 * component (`unet.lora_alpha`). Without metadata diffusers sets alpha = r: scale 1.
 */
function peftScale(metadata: PeftMetadata | undefined, component: LoraComponent, module: string, rank: number): number {
  if (!metadata) return 1;
  const field = (key: string) => metadata[`${component}.${key}`];
  const patterns = field('alpha_pattern');
  let alpha = typeof field('lora_alpha') === 'number' ? (field('lora_alpha') as number) : rank;
  if (typeof patterns === 'object' && patterns !== null) {
    // PEFT matches a pattern as the module path's suffix; matched literally here (patterns are untrusted).
    for (const [pattern, value] of Object.entries(patterns as Record<string, unknown>)) {
      if (typeof value === 'number' && (module === pattern || module.endsWith(`.${pattern}`))) alpha = value;
    }
  }
  return field('use_rslora') === true ? alpha / Math.sqrt(rank) : alpha / rank;
}
