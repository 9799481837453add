/**
 * Kiln sampler names of the DPM-Solver family → scheduler factories, each equal to diffusers'
 * `Class.from_config(model_scheduler_config, **extra_kwargs)` (see docs/samplers.md).
 */
import { DPMSolverMultistepScheduler } from './dpm-multistep.scheduler.js';
import { DPMSolverSDEScheduler } from './dpm-sde.scheduler.js';
import { DPMSolverSinglestepScheduler } from './dpm-singlestep.scheduler.js';
import type { Scheduler, SchedulerConfig } from './scheduler.js';
import { UniPCMultistepScheduler } from './unipc.scheduler.js';

export { DPMSolverMultistepScheduler } from './dpm-multistep.scheduler.js';
export { DPMSolverSDEScheduler } from './dpm-sde.scheduler.js';
export { DPMSolverSinglestepScheduler } from './dpm-singlestep.scheduler.js';
export { UniPCMultistepScheduler } from './unipc.scheduler.js';

/** Builds a fresh scheduler from a model's `scheduler_config.json`. */
type SchedulerFactory = (config: SchedulerConfig) => Scheduler;

/**
 * The group-2 samplers by Kiln sampler name (extra kwargs as recorded in the diffusers reference;
 * the 2M SDE pair is not in the reference and follows diffusers' documented SDE-DPM-Solver++ setup).
 */
export const GROUP2_SCHEDULERS = {
  DPM_SOLVER_MULTISTEP: (cfg) => new DPMSolverMultistepScheduler(cfg),
  DPM_PLUS_PLUS_2M_KARRAS: (cfg) => new DPMSolverMultistepScheduler(cfg, { use_karras_sigmas: true }),
  DPM_PLUS_PLUS_2M_SDE: (cfg) => new DPMSolverMultistepScheduler(cfg, { algorithm_type: 'sde-dpmsolver++' }),
  DPM_PLUS_PLUS_2M_SDE_KARRAS: (cfg) =>
    new DPMSolverMultistepScheduler(cfg, { algorithm_type: 'sde-dpmsolver++', use_karras_sigmas: true }),
  DPM_SINGLE: (cfg) => new DPMSolverSinglestepScheduler(cfg),
  DPM_PLUS_PLUS_SDE_KARRAS: (cfg) => new DPMSolverSDEScheduler(cfg, { use_karras_sigmas: true }),
  UNI_PC: (cfg) => new UniPCMultistepScheduler(cfg),
} satisfies Record<string, SchedulerFactory>;

export type Group2SamplerName = keyof typeof GROUP2_SCHEDULERS;
