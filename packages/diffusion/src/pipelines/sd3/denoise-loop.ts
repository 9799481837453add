/**
 * SD3's denoising loop (diffusers' `for i, t in enumerate(timesteps)`): the transformer predicts
 * the velocity for [latents, latents] under [negative, positive] conditioning, classifier-free
 * guidance combines the halves, the flow-matching Euler step moves the latents.
 */
import { RenderAbortedError } from '../../errors.js';
import type { HostTensor } from '../../models/onnx-session.js';
import type { Sd3Model } from '../../models/sd3-model.js';
import type { FlowMatchEulerDiscreteScheduler } from '../../schedulers/flow-match-euler.scheduler.js';
import type { Sd3Conditioning } from './conditioning.js';

const f32 = Math.fround;

export interface Sd3DenoiseInputs {
  model: Sd3Model;
  scheduler: FlowMatchEulerDiscreteScheduler;
  /** The timesteps to run: all of them, or the tail image-to-image starts at. */
  timesteps: readonly number[];
  latents: Float32Array;
  /** [batch, 16, height/8, width/8] */
  shape: readonly number[];
  conditioning: Sd3Conditioning;
  cfgScale: number;
  signal?: { readonly aborted: boolean };
  onStep?: (step: number, totalSteps: number) => void;
}

/** `v_uncond + g · (v_text − v_uncond)` over a [uncond × B, text × B] output, each operation in float32 as torch. */
function guide(output: Float32Array, scale: number): Float32Array {
  const half = output.length / 2;
  const g = f32(scale);
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const uncond = output[i];
    out[i] = uncond + f32(g * f32(output[half + i] - uncond));
  }
  return out;
}

export async function denoiseSd3(
  inputs: Sd3DenoiseInputs,
): Promise<{ latents: Float32Array; transformerCalls: number }> {
  const { model, scheduler, timesteps, shape, conditioning, cfgScale } = inputs;
  const guided = cfgScale > 1;
  const [batch, channels, height, width] = shape;
  const rows = guided ? batch * 2 : batch;
  const hidden = new Float32Array(rows * channels * height * width);
  const timestep: HostTensor = { data: new Float32Array(rows), dims: [rows] };
  let latents = inputs.latents;
  let transformerCalls = 0;
  for (let i = 0; i < timesteps.length; i++) {
    if (inputs.signal?.aborted) throw new RenderAbortedError();
    const t = timesteps[i];
    // cat([latents] * 2): both guidance halves see the same latents.
    hidden.set(latents);
    if (guided) hidden.set(latents, latents.length);
    (timestep.data as Float32Array).fill(t);
    const out = await model.transformer.run(
      {
        hidden_states: { data: hidden, dims: [rows, channels, height, width] },
        encoder_hidden_states: conditioning.encoderHiddenStates,
        pooled_projections: conditioning.pooledProjections,
        timestep,
      },
      [model.transformerOutputName],
    );
    transformerCalls++;
    const raw = out[model.transformerOutputName].data as Float32Array;
    const velocity = guided ? guide(raw, cfgScale) : raw;
    latents = scheduler.step(velocity, t, latents, { shape });
    inputs.onStep?.(i + 1, timesteps.length);
  }
  if (inputs.signal?.aborted) throw new RenderAbortedError();
  return { latents, transformerCalls };
}
