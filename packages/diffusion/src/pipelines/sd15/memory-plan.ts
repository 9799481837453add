/**
 * "Plan memory", the stage after encoding the prompt: the request's peak bytes on this model
 * (@kiln/memory), the UNet micro-batch that fits the render's memory budget, and the
 * VAE tile. Shrinking the micro-batch changes no pixel: each image has its own generator, so it
 * renders the same alone or in a batch (micro-batches.ts).
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { RenderInputError } from '../../errors.js';
import {
  activationsFor,
  chooseMicroBatch,
  estimateWorkerPeak,
  type MemoryEstimate,
  type ModelMemoryProfile,
} from '@kiln/memory';
import type { Sd15Model } from '../../models/sd15-model.js';
import type { RenderParams } from './render-params.js';
import { DEFAULT_VAE_TILE_SIZE, tileLatentSize } from './vae-tiles.js';

export interface MemoryPlan {
  /** Images per UNet call: the requested micro-batch, or fewer to fit the budget. */
  microBatchSize: number;
  /** VAE tile side in latent pixels. */
  tileLatent: number;
  estimate: MemoryEstimate;
}

const GIB = 2 ** 30;
const profiles = new WeakMap<Sd15Model, Promise<ModelMemoryProfile>>();

/** Bytes of every file in the folders of the model's sessions (the graphs and their external weights). */
async function weightsBytes(model: Sd15Model): Promise<number> {
  const sessions = [
    model.textEncoder,
    model.unet,
    model.vaeDecoder,
    model.vaeEncoder,
    model.safetyChecker,
    ...[...model.controlnets.values()].map((c) => c.session),
  ];
  let total = 0;
  for (const session of sessions) {
    if (!session) continue;
    const dir = path.dirname(session.path);
    for (const name of await readdir(dir)) total += (await stat(path.join(dir, name))).size;
  }
  return total;
}

/**
 * The model's memory profile: its files' bytes and the activations of its architecture, each
 * stage's attention costed as fused when its session runs all of it fused (the UNet's only when
 * every ControlNet's does too: the estimate costs a ControlNet like the UNet).
 */
export function memoryProfile(model: Sd15Model): Promise<ModelMemoryProfile> {
  let profile = profiles.get(model);
  if (!profile) {
    const contextShape = model.unet.inputs.get('encoder_hidden_states')?.shape ?? [];
    const contextDim = typeof contextShape[2] === 'number' ? contextShape[2] : Number.POSITIVE_INFINITY;
    const activations = activationsFor(contextDim);
    const controlnets = [...model.controlnets.values()].map((c) => c.session);
    const stages = {
      unet: { ...activations.unet, attentionFused: [model.unet, ...controlnets].every((s) => s.attentionFused) },
      vaeDecoder: { ...activations.vaeDecoder, attentionFused: model.vaeDecoder.attentionFused },
      vaeEncoder: { ...activations.vaeEncoder, attentionFused: model.vaeEncoder?.attentionFused ?? false },
    };
    profile = weightsBytes(model).then((bytes) => ({ ...activations, ...stages, weightsBytes: bytes }));
    profiles.set(model, profile);
  }
  return profile;
}

export async function planMemory(
  model: Sd15Model,
  p: RenderParams,
  work: { promptChunks: number; encodesImage: boolean },
): Promise<MemoryPlan> {
  const profile = await memoryProfile(model);
  const tileLatent = tileLatentSize(p.vaeTileSize ?? DEFAULT_VAE_TILE_SIZE);
  const shape = {
    width: p.width,
    height: p.height,
    numImages: p.seeds.length,
    microBatch: p.microBatchSize,
    guided: p.cfgScale > 1,
    promptChunks: work.promptChunks,
    encodesImage: work.encodesImage,
    vaeTileLatent: tileLatent,
    unetInChannels: model.unetInChannels,
    sampler: p.sampler,
    // The ControlNets' weights are in the profile already: they were loaded with the model.
    controlNets: { count: p.controlnets?.length ?? 0, weightsBytes: 0 },
  };
  const budget = p.memoryBudgetBytes;
  if (budget === undefined)
    return { microBatchSize: p.microBatchSize, tileLatent, estimate: estimateWorkerPeak(profile, shape) };
  const microBatchSize = chooseMicroBatch(profile, shape, budget);
  if (microBatchSize === 0) {
    const needed = estimateWorkerPeak(profile, { ...shape, microBatch: 1 }).totalBytes;
    throw new RenderInputError(
      'input_rejected',
      `a ${p.width}×${p.height} render needs about ${(needed / GIB).toFixed(1)} GiB on this worker, ` +
        `over its ${(budget / GIB).toFixed(1)} GiB memory budget; ask for a smaller width and height`,
      'width',
    );
  }
  return {
    microBatchSize,
    tileLatent,
    estimate: estimateWorkerPeak(profile, { ...shape, microBatch: microBatchSize }),
  };
}
