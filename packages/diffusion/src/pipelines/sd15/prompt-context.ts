/** The UNet's `encoder_hidden_states` for one micro-batch, from the encoded prompts. */
import type { HostTensor } from '../../models/onnx-session.js';
import type { PromptEmbeddings } from './encode-prompt.js';

export interface EncodedPrompts {
  positive: PromptEmbeddings;
  negative: PromptEmbeddings;
}

/** [n copies of a, n copies of b] along the batch axis; b omitted → n copies of a. */
function repeatEmbeddings(n: number, a: PromptEmbeddings, b?: PromptEmbeddings): Float32Array {
  const parts = b ? [a, b] : [a];
  const out = new Float32Array(parts.length * n * a.data.length);
  let offset = 0;
  for (const part of parts) {
    for (let i = 0; i < n; i++, offset += part.data.length) out.set(part.data, offset);
  }
  return out;
}

/**
 * With classifier-free guidance the UNet batch is [negative × n, positive × n] (diffusers'
 * `cat([negative_prompt_embeds, prompt_embeds])`); without it, positive × n.
 */
export function promptContext(prompts: EncodedPrompts, batch: number, guided: boolean): HostTensor {
  const { positive, negative } = prompts;
  const data = guided ? repeatEmbeddings(batch, negative, positive) : repeatEmbeddings(batch, positive);
  return { data, dims: [guided ? batch * 2 : batch, positive.tokens, positive.dim] };
}
