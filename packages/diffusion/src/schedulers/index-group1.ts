/**
 * Kiln sampler names → scheduler factories for the DDIM/DDPM/PNDM/LMS/Euler/Heun/KDPM2 family,
 * each `Class.from_config(model_scheduler_config, **extra_kwargs)` as diffusers builds it.
 */
import { DDIMScheduler } from './ddim.scheduler.js';
import { DDPMScheduler } from './ddpm.scheduler.js';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral.scheduler.js';
import { EulerDiscreteScheduler } from './euler.scheduler.js';
import { HeunDiscreteScheduler } from './heun.scheduler.js';
import { KDPM2AncestralDiscreteScheduler } from './kdpm2-ancestral.scheduler.js';
import { KDPM2DiscreteScheduler } from './kdpm2.scheduler.js';
import { LMSDiscreteScheduler } from './lms.scheduler.js';
import { PNDMScheduler } from './pndm.scheduler.js';
import type { Scheduler, SchedulerConfig } from './scheduler.js';

export { DDIMScheduler } from './ddim.scheduler.js';
export { DDPMScheduler } from './ddpm.scheduler.js';
export { EulerAncestralDiscreteScheduler } from './euler-ancestral.scheduler.js';
export { EulerDiscreteScheduler } from './euler.scheduler.js';
export { HeunDiscreteScheduler } from './heun.scheduler.js';
export { KDPM2AncestralDiscreteScheduler } from './kdpm2-ancestral.scheduler.js';
export { KDPM2DiscreteScheduler } from './kdpm2.scheduler.js';
export { LMSDiscreteScheduler } from './lms.scheduler.js';
export { PNDMScheduler } from './pndm.scheduler.js';

/** Builds a scheduler from a model's `scheduler_config.json`. */
export type SchedulerFactory = (config: SchedulerConfig) => Scheduler;

/** Each factory is `Class.from_config(config, **extra_kwargs)` with the reference's extra_kwargs. */
const group1Factories = {
  DDIM: (config) => new DDIMScheduler(config),
  DDPM: (config) => new DDPMScheduler(config),
  PNDM: (config) => new PNDMScheduler(config),
  KLMS: (config) => new LMSDiscreteScheduler(config),
  LMS: (config) => new LMSDiscreteScheduler(config),
  HEUN: (config) => new HeunDiscreteScheduler(config),
  K_HEUN: (config) => new HeunDiscreteScheduler(config),
  K_EULER: (config) => new EulerDiscreteScheduler(config),
  K_EULER_ANCESTRAL: (config) => new EulerAncestralDiscreteScheduler(config),
  DPM_2: (config) => new KDPM2DiscreteScheduler(config),
  DPM_2_KARRAS: (config) => new KDPM2DiscreteScheduler(config, { use_karras_sigmas: true }),
  DPM_2_ANCESTRAL: (config) => new KDPM2AncestralDiscreteScheduler(config),
  DPM_2_ANCESTRAL_KARRAS: (config) => new KDPM2AncestralDiscreteScheduler(config, { use_karras_sigmas: true }),
} satisfies Record<string, SchedulerFactory>;

export type Group1SamplerName = keyof typeof group1Factories;

/**
 * The group-1 samplers by Kiln sampler name. LMS is KLMS and K_HEUN is HEUN (docs/generate.md);
 * the `_KARRAS` variants are the same classes with `use_karras_sigmas: true`.
 */
export const GROUP1_SCHEDULERS: Readonly<Record<Group1SamplerName, SchedulerFactory>> = group1Factories;
