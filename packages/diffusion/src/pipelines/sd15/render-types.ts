/** What a render reports and returns; shared by every SD1.5 pipeline. */
import type { Sd15AssetReport } from '../../assets/sd15-assets.js';

export interface RenderProgress {
  /** Denoising step just finished within the current micro-batch (1-based). */
  step: number;
  totalSteps: number;
  imagesDone: number;
  numImages: number;
}

/** A stage of a render that is not denoising and can take long enough to be worth reporting. */
export type RenderStage = 'loading_assets';

export interface RenderHooks {
  /** Checked between two denoising steps; when aborted the render throws RenderAbortedError. */
  signal?: { readonly aborted: boolean };
  onProgress?: (progress: RenderProgress) => void;
  /** Called when the render enters a stage other than denoising (e.g. merging a new asset set). */
  onStage?: (stage: RenderStage) => void;
}

export interface RenderedImage {
  seed: number;
  width: number;
  height: number;
  /** RGB, row-major HWC, uint8. */
  pixels: Uint8Array;
  removedForSafety: boolean;
  safetyScore: number | null;
}

export interface RenderResult {
  images: RenderedImage[];
  /** Final latents per image (before the VAE scaling), for parity tests and debugging. */
  latents: Float32Array[];
  timings: { totalMs: number; onnxMs: number; unetCalls: number };
  /**
   * With custom assets (set by the renderer): what applying them did, and `loadMs`, the time this
   * render waited for the model with its assets (near 0 when the session cache had them).
   */
  assets?: Sd15AssetReport & { loadMs: number };
}
