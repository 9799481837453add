import sharp from 'sharp';

/** CLIP ViT-L/14's image normalisation (transformers' CLIPImageProcessor, OPENAI_CLIP_MEAN/STD). */
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];
const CLIP_SIZE = 224;

/**
 * CLIPImageProcessor's pipeline for the safety checker: resize the shortest side to 224 (bicubic),
 * centre-crop 224×224, scale to [0, 1], normalise per channel; returns CHW float32.
 * sharp's cubic kernel is not PIL's bit for bit, so scores can differ from diffusers in the last digits.
 */
export async function clipPixelValues(pixels: Uint8Array, width: number, height: number): Promise<Float32Array> {
  const scale = CLIP_SIZE / Math.min(width, height);
  const resizedWidth = Math.max(CLIP_SIZE, Math.round(width * scale));
  const resizedHeight = Math.max(CLIP_SIZE, Math.round(height * scale));
  const { data } = await sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), {
    raw: { width, height, channels: 3 },
  })
    .resize(resizedWidth, resizedHeight, { kernel: 'cubic' })
    .extract({
      left: Math.floor((resizedWidth - CLIP_SIZE) / 2),
      top: Math.floor((resizedHeight - CLIP_SIZE) / 2),
      width: CLIP_SIZE,
      height: CLIP_SIZE,
    })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const plane = CLIP_SIZE * CLIP_SIZE;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) out[c * plane + p] = (data[p * 3 + c] / 255 - CLIP_MEAN[c]) / CLIP_STD[c];
  }
  return out;
}
