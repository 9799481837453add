import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Assets shipped with the testkit (the real CLIP vocabulary, SD1.5's scheduler config). */
const ASSETS = fileURLToPath(new URL('../../assets/', import.meta.url));

/**
 * model_index.json as diffusers' `save_pretrained` writes it for an ONNX pipeline
 * (json.dumps(indent=2, sort_keys=True) + newline), without safety checker or feature extractor.
 */
export function modelIndexJson(inpainting: boolean): string {
  const onnx = ['diffusers', 'OnnxRuntimeModel'];
  const index = {
    _class_name: inpainting ? 'OnnxStableDiffusionInpaintPipeline' : 'OnnxStableDiffusionPipeline',
    _diffusers_version: '0.38.0',
    feature_extractor: [null, null],
    requires_safety_checker: false,
    safety_checker: [null, null],
    scheduler: ['diffusers', 'PNDMScheduler'],
    text_encoder: onnx,
    tokenizer: ['transformers', 'CLIPTokenizer'],
    unet: onnx,
    vae_decoder: onnx,
    vae_encoder: onnx,
  };
  return `${JSON.stringify(index, null, 2)}\n`;
}

/** Writes model_index.json, scheduler/scheduler_config.json (SD1.5's PNDM config) and tokenizer/ (CLIP BPE). */
export async function writePipelineFiles(dir: string, inpainting: boolean): Promise<void> {
  await mkdir(join(dir, 'scheduler'), { recursive: true });
  await mkdir(join(dir, 'tokenizer'), { recursive: true });
  await writeFile(join(dir, 'model_index.json'), modelIndexJson(inpainting));
  await writeFile(
    join(dir, 'scheduler', 'scheduler_config.json'),
    await readFile(join(ASSETS, 'sd15', 'scheduler_config.json')),
  );
  for (const file of await readdir(join(ASSETS, 'clip'))) {
    await copyFile(join(ASSETS, 'clip', file), join(dir, 'tokenizer', file));
  }
}
