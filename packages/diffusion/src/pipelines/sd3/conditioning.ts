/** The transformer's text inputs for one micro-batch, from the encoded prompts. */
import type { HostTensor } from '../../models/onnx-session.js';
import type { Sd3Embeddings } from './encode-prompt.js';

export interface Sd3EncodedPrompts {
  positive: Sd3Embeddings;
  negative: Sd3Embeddings;
}

export interface Sd3Conditioning {
  encoderHiddenStates: HostTensor;
  pooledProjections: HostTensor;
}

function repeatRows(n: number, rows: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(rows.length * n * rows[0].length);
  let offset = 0;
  for (const row of rows) {
    for (let i = 0; i < n; i++, offset += row.length) out.set(row, offset);
  }
  return out;
}

/**
 * With classifier-free guidance the transformer batch is [negative × n, positive × n]
 * (diffusers' `cat([negative_prompt_embeds, prompt_embeds])`); without it, positive × n.
 */
export function sd3Conditioning(prompts: Sd3EncodedPrompts, batch: number, guided: boolean): Sd3Conditioning {
  const { positive, negative } = prompts;
  const parts = guided ? [negative, positive] : [positive];
  const rows = parts.length * batch;
  return {
    encoderHiddenStates: {
      data: repeatRows(
        batch,
        parts.map((p) => p.embeds),
      ),
      dims: [rows, positive.tokens, positive.dim],
    },
    pooledProjections: {
      data: repeatRows(
        batch,
        parts.map((p) => p.pooled),
      ),
      dims: [rows, positive.pooled.length],
    },
  };
}
