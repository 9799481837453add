/**
 * Stable Diffusion 1.5 inpainting and outpainting as diffusers' StableDiffusionInpaintPipeline,
 * which handles both UNet layouts:
 *
 * - a 9-channel inpainting UNet (the sd-v1-5-inpainting layout) gets `[latents, mask,
 *   masked-image latents]` at every step; the masked image is `image × (mask < 0.5)`;
 * - an ordinary 4-channel UNet gets the legacy blend: after every step the known region is put
 *   back, `latents = (1 − mask) · add_noise(image_latents, noise, t_next) + mask · latents`
 *   (the clean image latents after the last step).
 *
 * Stages: check inputs → plan (mask blur, full-resolution crop, binarize, outpainting pre-fill) →
 * encode prompt → plan memory → VAE-encode image and masked image → per micro-batch: prepare latents → denoise →
 * decode → compose (paste back).
 *
 * Generator draws per image, as diffusers with one generator per image: the image's posterior
 * sample (4-channel UNet, or strength < 1), the noise, the masked image's posterior sample, then
 * the sampler's own draws.
 */
import { cropRgb, type MaskPlane, type RgbImage } from '../../image/raster.js';
import { resizeRgb } from '../../image/resize-image.js';
import type { Sd15Model } from '../../models/sd15-model.js';
import { randnPerItem } from '../../rng/index.js';
import { createScheduler } from '../../schedulers/index.js';
import { checkImageSize, checkRenderInputs, checkVaeEncoder, denoisingStepsFor } from './check-inputs.js';
import { checkControlNets, unetResidualSource, type ControlNetInput } from './controlnet-residuals.js';
import { denoise, type UnetConditioning } from './denoise-loop.js';
import { chunkCount, encodePrompts } from './encode-prompt.js';
import { planMemory } from './memory-plan.js';
import { planInpaint, type InpaintOptions } from './inpaint-plan.js';
import { batchGeometry, renderMicroBatches, startRenderClock } from './micro-batches.js';
import { scaleByInitSigma } from './prepare-latents.js';
import { promptContext } from './prompt-context.js';
import type { RenderParams } from './render-params.js';
import type { RenderHooks, RenderResult } from './render-types.js';
import { startAtStrength } from './strength-schedule.js';
import { encodeLatentDistribution, rgbToVaeInput, sampleImageLatents, skipPosteriorDraw } from './vae-encode.js';

export interface InpaintParams extends RenderParams, Partial<InpaintOptions> {
  /** The source image (for outpainting: the picture already placed in the larger canvas), at width × height. */
  initImage: RgbImage;
  /** White (1) = repaint, black (0) = keep; at width × height. */
  maskImage: MaskPlane;
  strength: number;
}

export const INPAINT_DEFAULTS: Readonly<InpaintOptions> = Object.freeze({
  outpainting: false,
  maskBlur: 0,
  fullRes: false,
  fullResPadding: 32,
  pasteOriginal: true,
});

const VAE_SCALE = 8;

/** diffusers' `interpolate(mask, size=(h/8, w/8))` (mode "nearest"): the value at (8i, 8j). */
function maskAtLatentSize(mask: MaskPlane): Float32Array {
  const w = mask.width / VAE_SCALE;
  const h = mask.height / VAE_SCALE;
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) out[y * w + x] = mask.values[y * VAE_SCALE * mask.width + x * VAE_SCALE];
  return out;
}

/** `image × (mask < 0.5)` on the [1, 3, H, W] VAE input: the masked area becomes 0 (mid grey). */
function maskedImageInput(imageInput: Float32Array, mask: MaskPlane): Float32Array {
  const plane = mask.width * mask.height;
  return Float32Array.from(imageInput, (v, i) => (mask.values[i % plane] < 0.5 ? v : 0));
}

/** Per image: the latent mask (1 channel), then its masked-image latents (4 channels). */
function inpaintingConditioning(
  latentMask: Float32Array,
  maskedLatents: Float32Array,
  batch: number,
): UnetConditioning {
  const plane = latentMask.length;
  const data = new Float32Array(batch * 5 * plane);
  for (let b = 0; b < batch; b++) {
    data.set(latentMask, b * 5 * plane);
    data.set(maskedLatents.subarray(b * 4 * plane, (b + 1) * 4 * plane), (b * 5 + 1) * plane);
  }
  return { data, channels: 5 };
}

/** The legacy 4-channel blend: known latent cells from `known`, masked ones from `latents`. */
function blendKnownRegion(latents: Float32Array, known: Float32Array, latentMask: Float32Array): Float32Array {
  const plane = latentMask.length;
  const out = new Float32Array(latents.length);
  for (let i = 0; i < out.length; i++) {
    const m = latentMask[i % plane];
    out[i] = Math.fround(Math.fround((1 - m) * known[i]) + Math.fround(m * latents[i]));
  }
  return out;
}

export async function inpaint(model: Sd15Model, p: InpaintParams, hooks: RenderHooks = {}): Promise<RenderResult> {
  const clock = startRenderClock(model);
  checkRenderInputs(model, p, [4, 9], {
    field: 'checkpoint',
    message: 'inpainting needs a UNet of 4 or 9 input channels',
  });
  checkVaeEncoder(model, 'init_image');
  checkImageSize(p.initImage, p, 'init_image');
  checkImageSize(p.maskImage, p, 'mask_image');
  denoisingStepsFor(p.steps, p.strength);
  checkControlNets(model, p.controlnets ?? [], p);
  const options: InpaintOptions = {
    outpainting: p.outpainting ?? INPAINT_DEFAULTS.outpainting,
    maskBlur: p.maskBlur ?? INPAINT_DEFAULTS.maskBlur,
    fullRes: p.fullRes ?? INPAINT_DEFAULTS.fullRes,
    fullResPadding: p.fullResPadding ?? INPAINT_DEFAULTS.fullResPadding,
    pasteOriginal: p.pasteOriginal ?? INPAINT_DEFAULTS.pasteOriginal,
  };

  const plan = await planInpaint(p.initImage, p.maskImage, options);
  // The conditioning images follow the image: cut out and scaled like it with inpaint_full_res.
  const region = plan.region;
  const controls: ControlNetInput[] = await Promise.all(
    (p.controlnets ?? []).map(async (c) =>
      region ? { ...c, image: await resizeRgb(cropRgb(c.image, region), p.width, p.height) } : c,
    ),
  );
  const prompts = await encodePrompts(model, p.prompt, p.negativePrompt, p.clipSkip, p.maxPromptChunks);
  const memory = await planMemory(model, p, { promptChunks: chunkCount(prompts), encodesImage: true });
  const guided = p.cfgScale > 1;
  const inpaintingUnet = model.unetInChannels === 9;
  const imageInput = rgbToVaeInput(plan.workImage);
  // diffusers encodes the image only when it needs its latents: the 4-channel blend, or strength < 1.
  const encode = (input: Float32Array) => encodeLatentDistribution(model, input, p.width, p.height, memory.tileLatent);
  const imageDistribution = !inpaintingUnet || p.strength < 1 ? await encode(imageInput) : undefined;
  const maskedDistribution = inpaintingUnet ? await encode(maskedImageInput(imageInput, plan.workMask)) : undefined;
  const latentMask = maskAtLatentSize(plan.workMask);

  return renderMicroBatches(
    model,
    p,
    memory,
    hooks,
    clock,
    async (batch) => {
      const { generators, shape } = batch;
      const scheduler = createScheduler(p.sampler, model.schedulerConfig);
      scheduler.setTimesteps(p.steps);
      const timesteps = startAtStrength(scheduler, p.steps, p.strength);

      const sampled = imageDistribution && sampleImageLatents(model, imageDistribution, generators);
      // Read only where diffusers encodes the image (strength < 1, or a 4-channel UNet's blend).
      const imageLatents = (): Float32Array => {
        if (!sampled) throw new Error('inpaint: the image latents were not encoded');
        return sampled;
      };
      const noise = randnPerItem(generators, shape);
      let maskedLatents: Float32Array | undefined;
      if (maskedDistribution) maskedLatents = sampleImageLatents(model, maskedDistribution, generators);
      else skipPosteriorDraw(generators, shape); // diffusers encodes the masked image for a 4-channel UNet too

      // strength 1 starts from pure noise (diffusers' is_strength_max), otherwise from the noised image.
      const latents =
        p.strength === 1
          ? scaleByInitSigma(new Float32Array(noise), scheduler)
          : scheduler.addNoise(imageLatents(), noise, timesteps[0]);

      const { latents: denoised, unetCalls } = await denoise({
        model,
        scheduler,
        timesteps,
        latents,
        shape,
        context: promptContext(prompts, batch.size, guided),
        cfgScale: p.cfgScale,
        generators,
        residuals: unetResidualSource(model, controls, batchGeometry(p, batch.size, guided)),
        conditioning: maskedLatents && inpaintingConditioning(latentMask, maskedLatents, batch.size),
        afterStep: inpaintingUnet
          ? undefined
          : (stepped, i) => {
              const last = i === timesteps.length - 1;
              const known = last ? imageLatents() : scheduler.addNoise(imageLatents(), noise, timesteps[i + 1]);
              return blendKnownRegion(stepped, known, latentMask);
            },
        signal: hooks.signal,
        onStep: batch.reportStep,
        brownianNoise: batch.brownianNoise,
      });
      return { latents: denoised, totalSteps: timesteps.length, unetCalls };
    },
    (generated) => plan.compose(generated),
  );
}
