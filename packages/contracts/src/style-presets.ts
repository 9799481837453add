/**
 * `style_preset`: a named prompt template (OctoAI's SDXL styles) applied to the request's prompts
 * before rendering. Kiln applies it on every engine: it only rewrites text.
 */
import { SDXL_STYLE_TEMPLATES } from './style-presets-sdxl.js';

/** A `style_preset` value: one of OctoAI's `SDXLStyles` names. */
export type StylePresetName = keyof typeof SDXL_STYLE_TEMPLATES;

/** Every `style_preset` name, in OctoAI's order. */
export const STYLE_PRESET_NAMES = Object.keys(SDXL_STYLE_TEMPLATES) as [StylePresetName, ...StylePresetName[]];

/** One preset: its name and its two templates (what a listing of the presets shows). */
export interface StylePreset {
  name: StylePresetName;
  /** The positive template; `{prompt}` stands for the request's prompt. */
  prompt: string;
  /** Appended to the request's negative prompt (after a comma when both are non-empty). */
  negative_prompt: string;
}

/** The presets as a list, in OctoAI's order. */
export const STYLE_PRESETS: readonly StylePreset[] = STYLE_PRESET_NAMES.map((name) => {
  const [prompt, negative] = SDXL_STYLE_TEMPLATES[name];
  return { name, prompt, negative_prompt: negative };
});

/** Whether `name` is a `style_preset` value. */
export function isStylePresetName(name: unknown): name is StylePresetName {
  return typeof name === 'string' && Object.hasOwn(SDXL_STYLE_TEMPLATES, name);
}

/** The fields {@link applyStylePreset} reads and writes. */
export interface StyleableRequest {
  prompt: string;
  negative_prompt?: string;
  style_preset?: StylePresetName;
}

/** The prompts a preset turns `prompt` and `negativePrompt` into. */
export function styledPrompts(
  name: StylePresetName,
  prompt: string,
  negativePrompt = '',
): { prompt: string; negative_prompt: string } {
  const [positive, negative] = SDXL_STYLE_TEMPLATES[name];
  return {
    // Every `{prompt}`, as Python's str.replace; split/join so `$&` in a prompt stays literal.
    prompt: positive.split('{prompt}').join(prompt),
    negative_prompt: [negativePrompt, negative].filter((part) => part !== '').join(', '),
  };
}

/**
 * The request with its `style_preset` applied: the prompt substituted into the preset's positive
 * template, the preset's negative template appended to the negative prompt, and `style_preset`
 * removed, so applying it again changes nothing. A request without a preset comes back as is.
 */
export function applyStylePreset<T extends StyleableRequest>(request: T): T {
  const name = request.style_preset;
  if (name === undefined) return request;
  const { style_preset: _applied, ...rest } = request;
  if (!isStylePresetName(name)) {
    throw new RangeError(`unknown style_preset ${JSON.stringify(name)}; valid: ${STYLE_PRESET_NAMES.join(', ')}`);
  }
  const styled = styledPrompts(name, request.prompt, request.negative_prompt);
  const out = { ...rest, prompt: styled.prompt } as T;
  if (styled.negative_prompt !== '' || request.negative_prompt !== undefined) {
    out.negative_prompt = styled.negative_prompt;
  }
  return out;
}
