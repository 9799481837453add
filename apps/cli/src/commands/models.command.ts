import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTinySd15Model, makeTinySd3Model } from '@kiln/testkit';

/** A file the testkit's random-weight models carry, so `kiln start` can warn that images are noise. */
export const RANDOM_WEIGHTS_MARKER = 'RANDOM_WEIGHTS.txt';

export interface MakeTinyOptions {
  family: string;
  fullSize?: boolean;
  fp16?: boolean;
  inpainting?: boolean;
  /** SD1.5: a ControlNet in controlnet/ and a UNet taking its residuals (docs/controlnet.md). */
  controlnet?: boolean;
  /** SD3: write text_encoder_3/ (default true; `--no-t5` leaves it out). */
  t5?: boolean;
  seed: string;
}

const LABELS: Record<string, string> = { sd15: 'SD1.5', sd3: 'SD3' };

/** Writes the family's random-weight model; SD3 comes in its tiny form only. */
async function writeModel(dir: string, options: MakeTinyOptions): Promise<void> {
  const seed = Number(options.seed);
  if (options.family === 'sd15') {
    await makeTinySd15Model(dir, {
      seed,
      fullSize: options.fullSize ?? false,
      fp16: options.fp16 ?? false,
      unetInChannels: options.inpainting ? 9 : 4,
      controlnet: options.controlnet ?? false,
    });
    return;
  }
  if (options.family !== 'sd3') throw new Error(`--family ${options.family}: use sd15 or sd3`);
  for (const flag of ['fullSize', 'fp16', 'inpainting', 'controlnet'] as const) {
    if (options[flag])
      throw new Error(`--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is not available for --family sd3`);
  }
  await makeTinySd3Model(dir, { seed, t5: options.t5 ?? true });
}

export async function makeTinyCommand(dir: string, options: MakeTinyOptions): Promise<void> {
  const started = performance.now();
  await writeModel(dir, options);
  const label = LABELS[options.family];
  const install = options.family === 'sd3' ? 'docs/sd3.md' : 'the README';
  await writeFile(
    path.join(dir, RANDOM_WEIGHTS_MARKER),
    'This model was written by `kiln models make-tiny`: its weights are random, so its images are noise.\n' +
      `It exists to test and benchmark Kiln. See ${install} for installing a real ${label} ONNX model.\n`,
  );
  console.log(
    `wrote ${options.fullSize ? 'full-size' : 'tiny'} ${label} model to ${dir} ` +
      `in ${Math.round(performance.now() - started)} ms`,
  );
}
