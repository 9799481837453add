/** Kiln's diffusion core: no HTTP, no Redis, no environment variables. */
export { RenderAbortedError, RenderInputError } from './errors.js';
export { OnnxModel, ModelLoadError, type ExecutionProvider, type SessionSettings } from './models/onnx-session.js';
export { loadSd15Model, type Sd15Model } from './models/sd15-model.js';
export { textToImage, type TextToImageParams } from './pipelines/sd15/text-to-image.pipeline.js';
export type { RenderHooks, RenderProgress, RenderResult, RenderedImage } from './pipelines/sd15/render-types.js';
export { Renderer, type RenderRequest, type RendererOptions } from './runtime/renderer.js';
export { DiffusionThread } from './runtime/diffusion-thread.js';
export { CONTENT_TYPES, FILE_EXTENSIONS, decodeToRgb, encodeImage, type ImageEncoding } from './image/encode-image.js';
export { createScheduler, SAMPLER_NAMES } from './schedulers/index.js';
export { createGenerator, TorchCpuGenerator, PhiloxGenerator, type RandomSource, type RngSource } from './rng/index.js';
export { ClipTokenizer } from './tokenizer/index.js';
