export { startRenderWorker, type RenderWorker, type RenderWorkerOptions } from './render-worker.js';
export { createRenderProcessor } from './render.processor.js';
export {
  toRenderParams,
  toRenderRequest,
  toSd3RenderParams,
  type InputImages,
  type RenderSettings,
} from './render-params.js';
