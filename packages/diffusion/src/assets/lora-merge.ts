/**
 * Merges LoRAs into a model's weights: W ← W + m · (alpha/rank) · (up @ down), one LoRA after
 * the other in the order given (what diffusers' `fuse_lora` and kohya's merge compute). Every
 * layer is matched to its module and shape-checked before any weight is read, so a LoRA that
 * does not fit fails fast and whole; layers that match no module are reported, not dropped.
 */
import { AssetError } from './asset-error.js';
import type { LoraComponent, LoraFile, LoraLayer } from './lora-file.js';
import {
  initializerValues,
  replacementTensor,
  type InitializerPatches,
  type ModelComponent,
} from './model-component.js';
import type { ModuleWeight } from './module-index.js';

export interface LoraApplication {
  lora: LoraFile;
  /** The multiplier m; negative values subtract the LoRA, 0 leaves the weights untouched. */
  weight: number;
}

export interface UnmatchedLoraKey {
  lora: string;
  key: string;
  reason: string;
}

export interface LoraMergeResult {
  patches: Partial<Record<LoraComponent, InitializerPatches>>;
  /** Number of LoRA layers merged, over all LoRAs. */
  mergedLayers: number;
  /** Keys that changed nothing: no such module, or a format this merger does not apply. */
  unmatched: UnmatchedLoraKey[];
}

interface PlannedDelta {
  layer: LoraLayer;
  multiplier: number;
  out: number;
  columns: number;
}

export async function mergeLoras(
  components: Partial<Record<LoraComponent, ModelComponent>>,
  applications: readonly LoraApplication[],
): Promise<LoraMergeResult> {
  const flatIndexes = new Map<LoraComponent, Map<string, ModuleWeight>>();
  const flatIndex = (component: LoraComponent, modules: Map<string, ModuleWeight>) => {
    let index = flatIndexes.get(component);
    if (!index) {
      index = new Map([...modules.values()].map((weight) => [weight.module.replaceAll('.', '_'), weight]));
      flatIndexes.set(component, index);
    }
    return index;
  };

  // Plan: match and check every layer before reading any weight.
  const plan = new Map<LoraComponent, Map<ModuleWeight, PlannedDelta[]>>();
  const unmatched: UnmatchedLoraKey[] = [];
  let mergedLayers = 0;
  for (const { lora, weight } of applications) {
    if (!Number.isFinite(weight))
      throw new AssetError('invalid_lora', `weight ${weight} is not a finite number`, lora.name);
    for (const key of lora.unrecognized)
      unmatched.push({ lora: lora.name, key, reason: 'not a kohya or PEFT LoRA key' });
    for (const layer of lora.layers) {
      const component = components[layer.component];
      if (!component) {
        unmatched.push({ lora: lora.name, key: layer.key, reason: `the model has no ${layer.component}` });
        continue;
      }
      const target =
        layer.target.kind === 'module'
          ? component.modules.get(layer.target.module)
          : flatIndex(layer.component, component.modules).get(layer.target.flatName);
      if (!target) {
        unmatched.push({ lora: lora.name, key: layer.key, reason: `no ${layer.component} module matches` });
        continue;
      }
      const shape = checkFit(lora.name, layer, target);
      if (weight === 0) continue;
      if (target.consumers > 1) {
        throw new AssetError(
          'invalid_model',
          `${layer.key}: the model shares ${target.module}'s weight with other nodes, so it cannot be patched alone`,
          lora.name,
        );
      }
      const byModule = plan.get(layer.component) ?? new Map<ModuleWeight, PlannedDelta[]>();
      byModule.set(target, [...(byModule.get(target) ?? []), { layer, multiplier: weight, ...shape }]);
      plan.set(layer.component, byModule);
      mergedLayers++;
    }
  }

  const patches: Partial<Record<LoraComponent, InitializerPatches>> = {};
  for (const [component, byModule] of plan) {
    const out: InitializerPatches = new Map();
    for (const [target, deltas] of byModule) {
      const values = await initializerValues(components[component] as ModelComponent, target.initializer);
      for (const delta of deltas) addDelta(values, target, delta);
      out.set(target.initializer.name ?? '', replacementTensor(target.initializer, values));
    }
    patches[component] = out;
  }
  return { patches, mergedLayers, unmatched };
}

/** Checks that up @ down has the target weight's shape; returns it as [out, columns]. */
function checkFit(loraName: string, layer: LoraLayer, target: ModuleWeight): { out: number; columns: number } {
  const dims = target.initializer.dims ?? [];
  const { up, down } = layer;
  const loraOut = up.shape[0];
  const loraColumns = down.shape.slice(1).reduce((product, dim) => product * dim, 1);
  const loraKernel = down.shape.length === 4 ? down.shape.slice(2) : [1, 1];
  const [out, columns, kernel] =
    target.layout === 'out-in'
      ? [dims[0], dims.slice(1).reduce((product, dim) => product * dim, 1), dims.length === 4 ? dims.slice(2) : [1, 1]]
      : [dims[1], dims[0], [1, 1]];
  const fits =
    (target.layout === 'out-in' || dims.length === 2) &&
    out === loraOut &&
    columns === loraColumns &&
    kernel[0] === loraKernel[0] &&
    kernel[1] === loraKernel[1];
  if (!fits) {
    throw new AssetError(
      'shape_mismatch',
      `${layer.key}: up [${up.shape.join(', ')}] @ down [${down.shape.join(', ')}] does not fit ${target.module} ` +
        `(weight [${dims.join(', ')}]${target.layout === 'in-out' ? ', stored transposed' : ''})`,
      loraName,
    );
  }
  return { out, columns };
}

/** values += multiplier · scale · (up @ down), written in the target's layout. */
function addDelta(values: Float32Array, target: ModuleWeight, delta: PlannedDelta): void {
  const { layer, multiplier, out, columns } = delta;
  const up = layer.up.values;
  const down = layer.down.values;
  const rank = layer.down.shape[0];
  const factor = multiplier * layer.scale;
  // Loops are ordered so the weight is written sequentially in its own layout (a full-size UNet's
  // weights are hundreds of MB: strided writes made the merge several times slower); each element's
  // sum over the rank runs in the same order either way, so all layouts round alike.
  if (target.layout === 'out-in') {
    const row = new Float64Array(columns);
    for (let o = 0; o < out; o++) {
      row.fill(0);
      for (let k = 0; k < rank; k++) {
        const u = up[o * rank + k];
        const offset = k * columns;
        for (let j = 0; j < columns; j++) row[j] += u * down[offset + j];
      }
      const base = o * columns;
      for (let j = 0; j < columns; j++) values[base + j] += factor * row[j];
    }
    return;
  }
  const column = new Float64Array(rank);
  for (let j = 0; j < columns; j++) {
    for (let k = 0; k < rank; k++) column[k] = down[k * columns + j];
    const base = j * out;
    for (let o = 0; o < out; o++) {
      let sum = 0;
      const offset = o * rank;
      for (let k = 0; k < rank; k++) sum += up[offset + k] * column[k];
      values[base + o] += factor * sum;
    }
  }
}
