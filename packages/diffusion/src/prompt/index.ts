export { parsePromptAttention, isBreak, ATTENTION_MULTIPLIER, type WeightedText } from './parse-attention.js';
export {
  promptToChunks,
  padChunkCount,
  emptyChunk,
  type PromptChunk,
  type ChunkTokenizer,
  type ChunkOptions,
} from './weighted-chunks.js';
export { applyTokenWeights } from './apply-weights.js';
