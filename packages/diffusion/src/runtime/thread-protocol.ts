import type { RenderProgress, RenderResult, RenderStage } from '../pipelines/sd15/render-types.js';
import type { ModelMemoryProfile } from '@kiln/memory';
import type { ExecutionProvider } from '../models/onnx-session.js';
import type { ModelFamily, RendererOptions, RenderRequest } from './renderer.js';

/** Messages between DiffusionThread (host) and render-thread (the inference thread). */
export type HostMessage =
  | { type: 'render'; id: number; request: RenderRequest; abortFlag: SharedArrayBuffer }
  | { type: 'warm'; id: number; modelDir: string; family?: ModelFamily };

export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  field?: string;
}

export type ThreadMessage =
  | { type: 'progress'; id: number; progress: RenderProgress }
  | { type: 'stage'; id: number; stage: RenderStage }
  | { type: 'done'; id: number; result?: RenderResult; profile?: ModelMemoryProfile; provider: ExecutionProvider }
  | { type: 'error'; id: number; error: SerializedError; provider: ExecutionProvider };

export interface ThreadInit {
  options: RendererOptions;
}
