import type { Sd15Model } from '../../models/sd15-model.js';

/** numpy's round-half-to-even, used by diffusers' `numpy_to_pil`. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * VAE-decodes one image's latents and postprocesses exactly as diffusers:
 * `(x / 2 + 0.5).clamp(0, 1)`, then `round(x * 255)` to uint8, NCHW → HWC.
 */
export async function decodeLatents(
  model: Sd15Model,
  latents: Float32Array,
  latentHeight: number,
  latentWidth: number,
): Promise<{ pixels: Uint8Array; width: number; height: number }> {
  const scaled = new Float32Array(latents.length);
  const factor = Math.fround(model.vaeScalingFactor);
  for (let i = 0; i < latents.length; i++) scaled[i] = latents[i] / factor;
  const out = await model.vaeDecoder.run(
    { latent_sample: { data: scaled, dims: [1, 4, latentHeight, latentWidth] } },
    ['sample'],
  );
  const sample = out.sample.data as Float32Array;
  const [, , height, width] = out.sample.dims;
  const plane = height * width;
  const pixels = new Uint8Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    for (let p = 0; p < plane; p++) {
      const v = Math.min(Math.max(Math.fround(Math.fround(sample[c * plane + p] / 2) + 0.5), 0), 1);
      pixels[p * 3 + c] = roundHalfEven(Math.fround(v * 255));
    }
  }
  return { pixels, width, height };
}
