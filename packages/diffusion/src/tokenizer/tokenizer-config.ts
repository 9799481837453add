import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** The special tokens and length limit of a CLIP tokenizer folder. */
export interface ClipTokenizerConfig {
  bosToken: string;
  eosToken: string;
  padToken: string;
  unkToken: string;
  /**
   * Further tokens kept whole like the special ones: `additional_special_tokens` and the
   * entries of `added_tokens_decoder` (with the id it gives them, for tokens outside vocab.json).
   */
  extraTokens: Array<{ content: string; id?: number }>;
  /** Sequence length the text encoder takes, bos and eos included. */
  modelMaxLength: number;
}

/** transformers' `CLIPTokenizer.__init__` defaults, used for whatever the files leave out. */
export const DEFAULT_CLIP_CONFIG: ClipTokenizerConfig = {
  bosToken: '<|startoftext|>',
  eosToken: '<|endoftext|>',
  padToken: '<|endoftext|>',
  unkToken: '<|endoftext|>',
  extraTokens: [],
  modelMaxLength: 77,
};

type JsonObject = Record<string, unknown>;

/**
 * Reads `tokenizer_config.json` and `special_tokens_map.json` (both optional). As in
 * transformers, special_tokens_map.json overrides tokenizer_config.json. A token may be a
 * string or an AddedToken object (`{ "content": … }`). SD2 and SDXL's second tokenizer pad
 * with `!`, SD1.5 with `<|endoftext|>`, so the pad token must come from these files.
 */
export async function readClipTokenizerConfig(dir: string): Promise<ClipTokenizerConfig> {
  const tokenizerConfig = await readOptionalJson(join(dir, 'tokenizer_config.json'));
  const specialTokensMap = await readOptionalJson(join(dir, 'special_tokens_map.json'));
  const merged: JsonObject = { ...tokenizerConfig, ...specialTokensMap };
  const token = (key: string, fallback: string): string => tokenContent(merged[key]) ?? fallback;
  return {
    bosToken: token('bos_token', DEFAULT_CLIP_CONFIG.bosToken),
    eosToken: token('eos_token', DEFAULT_CLIP_CONFIG.eosToken),
    padToken: token('pad_token', DEFAULT_CLIP_CONFIG.padToken),
    unkToken: token('unk_token', DEFAULT_CLIP_CONFIG.unkToken),
    extraTokens: [
      ...addedTokens(tokenizerConfig.added_tokens_decoder),
      ...additionalTokens(merged.additional_special_tokens),
    ],
    modelMaxLength: maxLength(tokenizerConfig.model_max_length),
  };
}

function additionalTokens(value: unknown): Array<{ content: string }> {
  if (!Array.isArray(value)) return [];
  return value
    .map(tokenContent)
    .filter((t): t is string => t !== undefined)
    .map((content) => ({ content }));
}

function addedTokens(value: unknown): Array<{ content: string; id: number }> {
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value as JsonObject).flatMap(([id, token]) => {
    const content = tokenContent(token);
    return content === undefined || !/^\d+$/.test(id) ? [] : [{ content, id: Number(id) }];
  });
}

function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as JsonObject).content === 'string') {
    return (value as JsonObject).content as string;
  }
  return undefined;
}

// transformers writes a huge sentinel (1e30) when a tokenizer has no limit; CLIP's is 77.
function maxLength(value: unknown): number {
  return typeof value === 'number' && Number.isInteger(value) && value > 2 && value < 1e6
    ? value
    : DEFAULT_CLIP_CONFIG.modelMaxLength;
}

async function readOptionalJson(path: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  const parsed: unknown = JSON.parse(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`${path}: expected a JSON object`);
  }
  return parsed as JsonObject;
}
