export { makeTinySd15Model } from './sd15/make-sd15-model.js';
export type { MadeSd15Model } from './sd15/make-sd15-model.js';
export { resolveSd15Config } from './sd15/sd15.config.js';
export type { MakeSd15ModelOptions, Sd15Config, TextEncoderConfig, UnetConfig, VaeConfig } from './sd15/sd15.config.js';
export { buildSafetyChecker, writeSafetyChecker } from './sd15/safety-checker.graph.js';
