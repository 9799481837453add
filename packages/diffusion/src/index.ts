/** Kiln's diffusion core: no HTTP, no Redis, no environment variables. */
export { RenderAbortedError, RenderInputError } from './errors.js';
export { OnnxModel, ModelLoadError, type ExecutionProvider, type SessionSettings } from './models/onnx-session.js';
export { loadSd15Model, type Sd15Model } from './models/sd15-model.js';
export { textToImage, type TextToImageParams } from './pipelines/sd15/text-to-image.pipeline.js';
export { imageToImage, type ImageToImageParams } from './pipelines/sd15/image-to-image.pipeline.js';
export { DEFAULT_IMAGE_LIMITS, decodeInitImage, decodeMaskImage, type ImageLimits } from './image/decode-image.js';
export type { MaskPlane, PixelRegion, RgbImage } from './image/raster.js';
export type { RenderHooks, RenderProgress, RenderResult, RenderedImage } from './pipelines/sd15/render-types.js';
export { Renderer, type RenderRequest, type RendererOptions } from './runtime/renderer.js';
export { DEFAULT_STRENGTH, type ImageInput, type Sd15RenderParams, type Sd15RenderRequest } from './runtime/sd15-request.js';
export { inpaint, INPAINT_DEFAULTS, type InpaintParams } from './pipelines/sd15/inpaint.pipeline.js';
export { outpaintPrefill } from './image/outpaint-prefill.js';
export { uniformMask } from './image/raster.js';
export { DiffusionThread } from './runtime/diffusion-thread.js';
export { CONTENT_TYPES, FILE_EXTENSIONS, decodeToRgb, encodeImage, type ImageEncoding } from './image/encode-image.js';
export { createScheduler, SAMPLER_NAMES } from './schedulers/index.js';
export { createGenerator, TorchCpuGenerator, PhiloxGenerator, type RandomSource, type RngSource } from './rng/index.js';
export { ClipTokenizer } from './tokenizer/index.js';
