import type { GraphBuilder, WriteModelOptions } from '@kiln/onnx';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writePipelineFiles } from './model-folder.files.js';
import { resolveSd15Config } from './sd15.config.js';
import type { MakeSd15ModelOptions, Sd15Config } from './sd15.config.js';
import { buildTextEncoder } from './text-encoder.graph.js';
import { buildUnet } from './unet.graph.js';
import { buildControlNet } from './controlnet.graph.js';
import { buildVaeDecoder, buildVaeEncoder } from './vae.graph.js';

/** What {@link makeTinySd15Model} wrote. */
export interface MadeSd15Model {
  dir: string;
  config: Sd15Config;
  /** Size in bytes of every file written, by path relative to `dir`. */
  files: Record<string, number>;
}

/** Models whose weights exceed this go to `model.onnx_data` (protobuf files cannot pass 2 GiB). */
const INLINE_LIMIT_BYTES = 1.5 * 2 ** 30;

/**
 * Writes a random-weight Stable Diffusion 1.5 model folder in the diffusers ONNX layout:
 * model_index.json, scheduler/, tokenizer/ (real CLIP vocabulary), text_encoder/model.onnx,
 * unet/model.onnx + unet/weights.pb (external data, as diffusers' export writes it),
 * vae_encoder/model.onnx and vae_decoder/model.onnx. Same options and seed → identical bytes.
 * Tiny by default; `fullSize` writes SD1.5's real dimensions.
 */
export async function makeTinySd15Model(dir: string, options: MakeSd15ModelOptions = {}): Promise<MadeSd15Model> {
  const config = resolveSd15Config(options);
  const { precision, seed } = config;
  await mkdir(dir, { recursive: true });
  await writePipelineFiles(dir, config.unet.inChannels === 9);

  const files: Record<string, number> = {};
  const write = async (component: string, build: () => GraphBuilder, always?: WriteModelOptions['externalData']) => {
    const graph = build();
    const external =
      always ?? (graph.initializerBytes() > INLINE_LIMIT_BYTES ? { location: 'model.onnx_data' } : undefined);
    const modelPath = join(dir, component, 'model.onnx');
    for (const stale of ['weights.pb', 'model.onnx_data']) {
      if (stale !== external?.location) await rm(join(dir, component, stale), { force: true });
    }
    await graph.write(modelPath, {
      externalData: external,
      producerName: '@kiln/testkit',
      docString: describe(component, config),
    });
    files[`${component}/model.onnx`] = (await stat(modelPath)).size;
    if (external)
      files[`${component}/${external.location}`] = (await stat(join(dir, component, external.location))).size;
  };

  await write('text_encoder', () => buildTextEncoder(config.text, precision, seed));
  await write('unet', () => buildUnet(config.unet, precision, seed), { location: 'weights.pb' });
  await write('vae_encoder', () => buildVaeEncoder(config.vae, precision, seed));
  await write('vae_decoder', () => buildVaeDecoder(config.vae, precision, seed));
  const { controlnet } = config;
  if (controlnet) {
    await write('controlnet', () => buildControlNet(config.unet, controlnet, precision, seed));
    // Where the UNet's residuals halve in size (Kiln reads it to feed zeros when no ControlNet is asked for).
    await writeFile(
      join(dir, 'unet', 'config.json'),
      `${JSON.stringify({ layers_per_block: config.unet.layersPerBlock, block_out_channels: config.unet.blockChannels }, null, 2)}\n`,
    );
  }
  return { dir, config, files };
}

function describe(component: string, config: Sd15Config): string {
  const size = config.fullSize ? 'full-size' : 'tiny';
  return `Random-weight SD1.5 ${component} (${size}, ${config.precision}, seed ${config.seed}) written by @kiln/testkit. Not a trained model.`;
}
