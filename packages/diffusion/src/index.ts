/** Kiln's diffusion core: no HTTP, no Redis, no environment variables. */
export { RenderAbortedError, RenderInputError } from './errors.js';
export {
  OnnxModel,
  ModelLoadError,
  ONNX_RUNTIME_VERSION,
  type ExecutionProvider,
  type SessionSettings,
} from './models/onnx-session.js';
export { ExecutionProviderError } from './models/execution-provider.js';
export { loadSd15Model, type Sd15Model } from './models/sd15-model.js';
export { textToImage, type TextToImageParams } from './pipelines/sd15/text-to-image.pipeline.js';
export { imageToImage, type ImageToImageParams } from './pipelines/sd15/image-to-image.pipeline.js';
export { DEFAULT_IMAGE_LIMITS, decodeInitImage, decodeMaskImage, type ImageLimits } from './image/decode-image.js';
export type { MaskPlane, PixelRegion, RgbImage } from './image/raster.js';
export type {
  RenderHooks,
  RenderProgress,
  RenderResult,
  RenderStage,
  RenderedImage,
} from './pipelines/sd15/render-types.js';
export { Renderer, type ModelFamily, type RenderRequest, type RendererOptions } from './runtime/renderer.js';
export {
  DEFAULT_STRENGTH,
  type ImageInput,
  type Sd15RenderParams,
  type Sd15RenderRequest,
} from './runtime/sd15-request.js';
export { inpaint, INPAINT_DEFAULTS, type InpaintParams } from './pipelines/sd15/inpaint.pipeline.js';
export { outpaintPrefill } from './image/outpaint-prefill.js';
export { uniformMask } from './image/raster.js';
export { DiffusionThread } from './runtime/diffusion-thread.js';
export { CONTENT_TYPES, FILE_EXTENSIONS, decodeToRgb, encodeImage, type ImageEncoding } from './image/encode-image.js';
export { createScheduler, SAMPLER_NAMES } from './schedulers/index.js';
export { NoiseAhead } from './noise-ahead/noise-ahead.js';
export {
  boxMuller16,
  createGenerator,
  Mt19937,
  TorchCpuGenerator,
  PhiloxGenerator,
  type RandomSource,
  type RngSource,
} from './rng/index.js';
export { ClipTokenizer } from './tokenizer/index.js';
export { loadSd3Model, type Sd3Model, type Sd3LoadOptions } from './models/sd3-model.js';
export { encodeSd3Prompts } from './pipelines/sd3/prompts.js';
export { sd3TextToImage } from './pipelines/sd3/text-to-image.pipeline.js';
export { sd3ImageToImage } from './pipelines/sd3/image-to-image.pipeline.js';
export type { Sd3Params, Sd3ImageToImageParams } from './pipelines/sd3/render-params.js';
export { FlowMatchEulerDiscreteScheduler } from './schedulers/flow-match-euler.scheduler.js';
export { T5Tokenizer } from './tokenizer/t5-tokenizer.js';
export { SD3_SAMPLER, type Sd3RenderParams, type Sd3RenderRequest } from './runtime/sd3-request.js';
export { AssetError, type AssetErrorCode } from './assets/asset-error.js';
export { parseSafetensors, type AssetTensor, type FloatDtype, type SafetensorsFile } from './assets/safetensors.js';
export { readTorchFile, type TorchFile } from './assets/torch-file.js';
export { unpickle, type PickleValue, type StorageRef, type TensorRef } from './assets/pickle.js';
export { readZip } from './assets/zip-reader.js';
export { parseLora, type LoraComponent, type LoraFile, type LoraLayer } from './assets/lora-file.js';
export { mergeLoras, type LoraApplication, type LoraMergeResult, type UnmatchedLoraKey } from './assets/lora-merge.js';
export { indexModuleWeights, type ModuleWeight, type WeightLayout } from './assets/module-index.js';
export { openComponent, type InitializerPatches, type ModelComponent } from './assets/model-component.js';
export { parseEmbedding, type EmbeddingFile } from './assets/embedding-file.js';
export { applyTextualInversions, type TextualInversionApplication } from './assets/textual-inversion.js';
export { assetSetKey, loadSd15ModelWithAssets, type Sd15AssetReport, type Sd15AssetSet } from './assets/sd15-assets.js';
export { loadPatchedModel } from './models/patched-model.js';
export type { Sd15ModelParts } from './models/sd15-model.js';
export { DEFAULT_VAE_TILE_SIZE } from './pipelines/sd15/vae-tiles.js';
export { DEFAULT_MAX_PROMPT_CHUNKS } from './pipelines/sd15/encode-prompt.js';
export { memoryProfile } from './pipelines/sd15/memory-plan.js';
export { ControlNetModel, type ControlNetResiduals } from './models/controlnet-model.js';
export { findUnetResidualInputs, type UnetResidualInputs } from './models/unet-residual-inputs.js';
export { controlNetKeep, conditioningTensor, type ControlNetInput } from './pipelines/sd15/controlnet-residuals.js';
export type { ControlNetRequest } from './runtime/controlnet-request.js';
export {
  CONTROL_PREPROCESSORS,
  preprocessConditioningImage,
  type ControlPreprocessor,
} from './image/control-preprocess.js';
