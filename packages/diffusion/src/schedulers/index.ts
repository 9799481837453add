/**
 * Kiln sampler name → scheduler, each equal to diffusers'
 * `Class.from_config(model_scheduler_config, **extra)` (docs/samplers.md has the table).
 */
import { GROUP1_SCHEDULERS } from './index-group1.js';
import { GROUP2_SCHEDULERS } from './index-group2.js';
import { LCMScheduler } from './lcm.scheduler.js';
import type { Scheduler, SchedulerConfig } from './scheduler.js';

const FACTORIES: Readonly<Record<string, (config: SchedulerConfig) => Scheduler>> = {
  ...GROUP1_SCHEDULERS,
  ...GROUP2_SCHEDULERS,
  LCM: (config) => new LCMScheduler(config),
};

/** Every sampler name the SD1.5 pipeline accepts (aliases included). */
export const SAMPLER_NAMES: readonly string[] = Object.keys(FACTORIES);

export function createScheduler(sampler: string, config: SchedulerConfig): Scheduler {
  const factory = FACTORIES[sampler];
  if (!factory) throw new Error(`unknown sampler ${sampler}; known: ${SAMPLER_NAMES.join(', ')}`);
  return factory(config);
}

export type { Scheduler, SchedulerConfig, StepOptions } from './scheduler.js';
export type { BrownianNoiseSource } from './brownian-tree.js';
