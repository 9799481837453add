/** The "encode prompt" stage of both SD3 pipelines: the positive texts, then (with guidance) the negative ones. */
import type { Sd3Model } from '../../models/sd3-model.js';
import type { Sd3EncodedPrompts } from './conditioning.js';
import { encodeSd3Prompt, promptTexts } from './encode-prompt.js';
import { DEFAULT_MAX_SEQUENCE_LENGTH, type Sd3Params } from './render-params.js';

export async function encodeSd3Prompts(model: Sd3Model, p: Sd3Params): Promise<Sd3EncodedPrompts> {
  const length = p.maxSequenceLength ?? DEFAULT_MAX_SEQUENCE_LENGTH;
  const positive = await encodeSd3Prompt(model, promptTexts(p.prompt, p.prompt2, p.prompt3), p.clipSkip ?? 0, length);
  // Without guidance diffusers never encodes the negative prompt (and nothing reads it).
  if (!(p.cfgScale > 1)) return { positive, negative: positive };
  const negativeTexts = promptTexts(p.negativePrompt ?? '', p.negativePrompt2, p.negativePrompt3);
  // diffusers encodes the negative prompt with clip_skip=None.
  const negative = await encodeSd3Prompt(model, negativeTexts, 0, length);
  return { positive, negative };
}
