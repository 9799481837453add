export { ClipTokenizer } from './clip-tokenizer.js';
export { readClipTokenizerConfig, DEFAULT_CLIP_CONFIG, type ClipTokenizerConfig } from './tokenizer-config.js';
export { BytePairEncoder, END_OF_WORD, CLIP_MERGE_LIMIT } from './byte-pair-encoder.js';
export { basicTokenize } from './basic-tokenizer.js';
