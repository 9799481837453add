/** Tiny textual-inversion embeddings in the three formats users bring. */
import { float16ToFloat32, float32ToFloat16 } from '@kiln/onnx';
import { uniformValues } from '../prng.js';
import { encodeSafetensors } from './safetensors.writer.js';
import { encodeTorchFile } from './torch-file.writer.js';

export interface TinyEmbedding {
  vectors: number;
  dim: number;
  /** Row-major `[vectors, dim]`, float16-representable. */
  values: Float32Array;
  /** A1111 `.pt`: `{string_to_param: {'*': tensor}, name, step}`. */
  a1111Pt: Uint8Array;
  /** A1111 safetensors: `emb_params`. */
  a1111Safetensors: Uint8Array;
  /** diffusers' learned_embeds: `{token: vector}` (a `[dim]` vector when single). */
  diffusersSafetensors: Uint8Array;
}

export function makeTinyEmbedding(
  dim: number,
  vectors = 1,
  options: { seed?: number; token?: string; std?: number } = {},
): TinyEmbedding {
  const { seed = 11, token = '<tiny-concept>', std = 1 } = options;
  const values = float16ToFloat32(
    float32ToFloat16(uniformValues(seed, `embedding.${token}.${vectors}`, vectors * dim, std)),
  );
  const shape = [vectors, dim];
  return {
    vectors,
    dim,
    values,
    a1111Pt: encodeTorchFile({ string_to_param: { '*': { tensor: values, shape } }, name: token, step: 500 }),
    a1111Safetensors: encodeSafetensors({ emb_params: { dtype: 'F32', shape, values } }),
    diffusersSafetensors: encodeSafetensors({
      [token]: { dtype: 'F32', shape: vectors === 1 ? [dim] : shape, values },
    }),
  };
}
