/**
 * The extra inputs of a "UNet with ControlNet inputs": the down-block residuals and the mid-block
 * residual a ControlNet produces, added by the UNet to its skip tensors and to its mid-block output
 * (diffusers' `down_block_additional_residuals` / `mid_block_additional_residual`).
 *
 * No exporter defines the names, so they are found in the session metadata by pattern:
 *
 * - `down_block_additional_residuals.{i}` + `mid_block_additional_residual` (diffusers' keyword
 *   names flattened the way optimum flattens a tuple: the layout of the shared reference model);
 * - `down_block_additional_residual`, `down_block_additional_residual_1`, `_3`, … `_21` +
 *   `mid_block_additional_residual` (optimum's Intel "unet-controlnet" branch: the bare name is
 *   residual 0, the suffixed ones follow in increasing suffix order);
 * - generic `down…residual…{n}` names, ordered by their number.
 *
 * The order is then checked against the channel counts the graph declares (residual channels never
 * decrease along the down path), so a naming that sorts wrongly is refused rather than misused.
 */
import { ModelLoadError, type ValueInfo } from './onnx-session.js';

/** What is read of a UNet session: its file and input metadata. */
export interface UnetInputsInfo {
  readonly path: string;
  readonly inputs: ReadonlyMap<string, ValueInfo>;
}

export interface UnetResidualInputs {
  /** Input names of down residual 0, 1, … in the order a ControlNet emits them. */
  down: readonly string[];
  mid: string;
  /** Channel count per down residual (undefined where the export left it symbolic). */
  downChannels: readonly (number | undefined)[];
  midChannels: number | undefined;
}

const DIFFUSERS_DOWN = /^down_block_additional_residuals\.(\d+)$/;
const INTEL_DOWN = /^down_block_additional_residual(?:_(\d+))?$/;
const GENERIC_DOWN = /^down[a-z_]*residuals?[._]?(\d+)?$/i;
const MID = /^mid[a-z_]*residual[s]?$/i;

function channelsOf(model: UnetInputsInfo, name: string): number | undefined {
  const dim = model.inputs.get(name)?.shape[1];
  return typeof dim === 'number' ? dim : undefined;
}

/** Names matching `pattern`, ordered by the number it captures (no number = 0, as the Intel naming has it). */
function ordered(names: readonly string[], pattern: RegExp): string[] {
  return names
    .map((name) => ({ name, match: pattern.exec(name) }))
    .filter((x): x is { name: string; match: RegExpExecArray } => x.match !== null)
    .map(({ name, match }) => ({ name, index: match[1] === undefined ? 0 : Number(match[1]) }))
    .sort((a, b) => a.index - b.index)
    .map((x) => x.name);
}

/** Down-path channels never decrease; symbolic channels are not checked. */
function channelsPlausible(channels: readonly (number | undefined)[]): boolean {
  const known = channels.filter((c): c is number => c !== undefined);
  return known.every((c, i) => i === 0 || c >= known[i - 1]);
}

/** The UNet's residual inputs, or undefined when it takes none (a plain UNet). */
export function findUnetResidualInputs(unet: UnetInputsInfo): UnetResidualInputs | undefined {
  const names = [...unet.inputs.keys()];
  const mid = names.find((n) => MID.test(n));
  let down = ordered(names, DIFFUSERS_DOWN);
  if (down.length === 0) down = ordered(names, INTEL_DOWN);
  if (down.length === 0) down = ordered(names, GENERIC_DOWN);
  if (down.length === 0 || mid === undefined) return undefined;
  const downChannels = down.map((n) => channelsOf(unet, n));
  if (!channelsPlausible(downChannels)) {
    throw new ModelLoadError(
      `${unet.path}: the residual inputs ${down.join(', ')} do not have increasing channel counts ` +
        `(${downChannels.join(', ')}); Kiln cannot tell their order`,
      unet.path,
    );
  }
  return { down, mid, downChannels, midChannels: channelsOf(unet, mid) };
}

/**
 * `layers_per_block` from the residual count when no config says it: `blocks × (layers + 1)`
 * residuals, so SD1.5's 12 (and any multiple of 3) is 2 layers, an even count that is not is 1.
 */
export function layersPerBlockFor(count: number): number {
  return count % 3 !== 0 && count % 2 === 0 ? 1 : 2;
}

/**
 * The spatial size of each down residual and of the mid residual for a latent of `height` × `width`,
 * as diffusers' UNet2DConditionModel makes them: conv_in's output at full size, then per down block
 * `layersPerBlock` resnet outputs at the block's size and a downsampler output at half of it (none
 * after the last block). Used to feed zeros to a UNet that requires residuals when no ControlNet is
 * asked for (adding zeros changes nothing).
 */
export function residualSizes(
  count: number,
  latentHeight: number,
  latentWidth: number,
  layersPerBlock = layersPerBlockFor(count),
): { down: [number, number][]; mid: [number, number] } {
  const down: [number, number][] = [];
  const at = (level: number): [number, number] => [
    Math.ceil(latentHeight / 2 ** level),
    Math.ceil(latentWidth / 2 ** level),
  ];
  down.push(at(0));
  let level = 0;
  for (let k = 1; k < count; k++) {
    const offset = (k - 1) % (layersPerBlock + 1);
    if (offset === layersPerBlock) level++;
    down.push(at(level));
  }
  return { down, mid: at(level) };
}
