/**
 * How many input channels a UNet takes: 4 (text-to-image) or 9 (inpainting: latents, mask,
 * masked-image latents). Exports disagree on where that is written, so the answer is looked for in
 * order of authority:
 *
 * 1. the `sample` input's channel dimension, when the export fixed it to a number;
 * 2. `unet/config.json`'s `in_channels` (optimum writes the diffusers config next to the model);
 * 3. the weight of the first convolution that reads `sample` (`conv_in.weight`, [out, in, k, k]),
 *    read from the graph without its external weights; skipped for graphs over 256 MB with
 *    weights inline, which would have to be read whole;
 * 4. `model_index.json`'s `_class_name` (an `…InpaintPipeline` has a 9-channel UNet);
 * 5. otherwise 4.
 *
 * diffusers' own export leaves the dimension symbolic ("channels"), which is why 1 is not enough.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { findInitializer, readModel } from '@kiln/onnx';
import type { OnnxModel } from './onnx-session.js';

const INLINE_GRAPH_LIMIT_BYTES = 256 * 1024 * 1024;

async function readJsonOrUndefined(file: string): Promise<Record<string, unknown> | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

async function convInChannels(unetPath: string): Promise<number | undefined> {
  try {
    if ((await stat(unetPath)).size > INLINE_GRAPH_LIMIT_BYTES) return undefined;
    const proto = await readModel(unetPath, { loadExternalData: false });
    const firstConv = (proto.graph?.node ?? []).find((n) => n.opType === 'Conv' && n.input?.[0] === 'sample');
    const weight = findInitializer(proto, firstConv?.input?.[1] ?? 'conv_in.weight');
    const channels = weight?.dims?.[1];
    return channels === undefined ? undefined : Number(channels);
  } catch {
    return undefined;
  }
}

export async function unetInChannels(modelDir: string, unet: OnnxModel): Promise<number> {
  const dim = unet.inputs.get('sample')?.shape[1];
  if (typeof dim === 'number') return dim;
  const config = await readJsonOrUndefined(path.join(modelDir, 'unet', 'config.json'));
  if (typeof config?.in_channels === 'number') return config.in_channels;
  const fromWeights = await convInChannels(unet.path);
  if (fromWeights !== undefined) return fromWeights;
  const index = await readJsonOrUndefined(path.join(modelDir, 'model_index.json'));
  if (typeof index?._class_name === 'string' && /Inpaint/.test(index._class_name)) return 9;
  return 4;
}
