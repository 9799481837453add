import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { makeTinySd15Model } from '@kiln/testkit';

/** A file the testkit's random-weight models carry, so `kiln start` can warn that images are noise. */
export const RANDOM_WEIGHTS_MARKER = 'RANDOM_WEIGHTS.txt';

export interface MakeTinyOptions {
  family: string;
  fullSize?: boolean;
  fp16?: boolean;
  inpainting?: boolean;
  seed: string;
}

export async function makeTinyCommand(dir: string, options: MakeTinyOptions): Promise<void> {
  if (options.family !== 'sd15') throw new Error(`--family ${options.family}: only sd15 can be generated in this version`);
  const started = performance.now();
  await makeTinySd15Model(dir, {
    seed: Number(options.seed),
    fullSize: options.fullSize ?? false,
    fp16: options.fp16 ?? false,
    unetInChannels: options.inpainting ? 9 : 4,
  });
  await writeFile(
    path.join(dir, RANDOM_WEIGHTS_MARKER),
    'This model was written by `kiln models make-tiny`: its weights are random, so its images are noise.\n' +
      'It exists to test and benchmark Kiln. See the README for installing a real SD1.5 ONNX model.\n',
  );
  console.log(`wrote ${options.fullSize ? 'full-size' : 'tiny'} SD1.5 model to ${dir} in ${Math.round(performance.now() - started)} ms`);
}
