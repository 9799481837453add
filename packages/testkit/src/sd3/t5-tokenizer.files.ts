/**
 * A small T5-style tokenizer the testkit generates (no SentencePiece model is shipped): HF
 * tokenizers' JSON with T5's pipeline (a `Replace` of repeated spaces, `Metaspace` with "▁",
 * `Unigram` over `[piece, score]`, a `$A </s>` template) and a vocabulary of the specials,
 * common prompt words with their "▁", a few subwords and single characters, scored so that
 * whole words beat their spelling.
 */

const WORDS = [
  'a',
  'an',
  'the',
  'of',
  'in',
  'on',
  'at',
  'with',
  'and',
  'photo',
  'painting',
  'portrait',
  'cat',
  'dog',
  'lighthouse',
  'dusk',
  'night',
  'city',
  'street',
  'red',
  'blue',
  'green',
  'light',
  'dark',
  'old',
  'man',
  'woman',
  'house',
  'tree',
  'sky',
  'sea',
  'mountain',
  'car',
  'style',
  'high',
  'quality',
  'detailed',
  'blurry',
  'low',
];
const SUBWORDS = ['ing', 'er', 's', 'ed', 'ly', 'es', 'al', 'ity', 'qu', 'ph', 'th', 'ch'];
const CHARACTERS = [...'abcdefghijklmnopqrstuvwxyz', ...'ABCDEFGHIJKLMNOPQRSTUVWXYZ', ...'0123456789', ...",.!?'-:;()"];
const SPECIALS = ['<pad>', '</s>', '<unk>'];

/** `[piece, score]` in id order: `<pad>` 0, `</s>` 1, `<unk>` 2, then "▁", words, subwords, characters. */
export function t5Vocabulary(): Array<[string, number]> {
  const scored = (pieces: string[], base: number) =>
    pieces.map((piece, i): [string, number] => [piece, base - i * 0.01]);
  return [
    ...SPECIALS.map((piece): [string, number] => [piece, 0]),
    ['▁', -3],
    ...scored(
      WORDS.map((w) => `▁${w}`),
      -4,
    ),
    ...scored(SUBWORDS, -6),
    ...scored(CHARACTERS, -9),
  ];
}

export function t5TokenizerJson(vocab: Array<[string, number]>): string {
  const special = (content: string, id: number) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  });
  const metaspace = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map(special),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' }] },
    pre_tokenizer: metaspace,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 0 } },
        { SpecialToken: { id: '</s>', type_id: 0 } },
      ],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: 2, vocab, byte_fallback: false },
  };
  return `${JSON.stringify(tokenizer, null, 2)}\n`;
}

export const T5_TOKENIZER_CONFIG = {
  add_prefix_space: true,
  eos_token: '</s>',
  extra_ids: 0,
  model_max_length: 512,
  pad_token: '<pad>',
  tokenizer_class: 'T5Tokenizer',
  unk_token: '<unk>',
};

export const T5_SPECIAL_TOKENS_MAP = { eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>' };
