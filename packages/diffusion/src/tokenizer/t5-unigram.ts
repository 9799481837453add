/**
 * The Unigram model of HF tokenizers (tokenizers/src/models/unigram/model.rs), as T5's
 * SentencePiece vocabulary is run by `T5TokenizerFast`: each word is segmented by Viterbi into the
 * vocabulary pieces whose scores (log probabilities) have the largest sum.
 *
 * - At each start position every piece that matches is a candidate edge.
 * - Where no single-character piece matches, an unknown edge of one character is added with score
 *   `min_score − 10` (HF's `K_UNK_PENALTY`), so every text has a segmentation.
 * - Consecutive unknown pieces are fused into one `unk_id` (HF's `fuse_unk`, on for Unigram).
 *
 * Positions are code points (HF walks UTF-8 characters; the segmentation is the same).
 */

const UNK_PENALTY = 10;

export class UnigramModel {
  private readonly pieces = new Map<string, { id: number; score: number }>();
  private readonly unkScore: number;
  /** Longest piece in code points: no match can be longer. */
  private readonly maxPieceLength: number;

  /**
   * @param vocab `[piece, score]` in id order (tokenizer.json's `model.vocab`)
   * @param unkId id of `<unk>`
   * @param excluded ids that never match text (the special tokens, which are cut out before the model)
   */
  constructor(
    vocab: ReadonlyArray<readonly [string, number]>,
    readonly unkId: number,
    excluded: ReadonlySet<number> = new Set(),
  ) {
    if (!(unkId >= 0 && unkId < vocab.length)) throw new Error(`Unigram: unk_id ${unkId} is outside the vocabulary`);
    let minScore = Infinity;
    let maxLength = 1;
    vocab.forEach(([piece, score], id) => {
      minScore = Math.min(minScore, score);
      if (excluded.has(id) || piece === '') return;
      // A piece listed twice takes its last id and score, as HF's token → id map does.
      this.pieces.set(piece, { id, score });
      maxLength = Math.max(maxLength, [...piece].length);
    });
    this.unkScore = minScore - UNK_PENALTY;
    this.maxPieceLength = maxLength;
  }

  /** The ids of one pre-tokenized word (e.g. `▁photo`). */
  encodeWord(word: string): number[] {
    const chars = [...word];
    const n = chars.length;
    if (n === 0) return [];
    // best[i]: best score of a segmentation of chars[0, i); from[i]: where its last piece starts and its id.
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1);
    const ids = new Int32Array(n + 1);
    best[0] = 0;
    for (let start = 0; start < n; start++) {
      if (best[start] === -Infinity) continue;
      let hasSingle = false;
      let text = '';
      for (let end = start + 1; end <= Math.min(n, start + this.maxPieceLength); end++) {
        text += chars[end - 1];
        const piece = this.pieces.get(text);
        if (!piece) continue;
        if (end === start + 1) hasSingle = true;
        this.relax(best, from, ids, start, end, piece.score, piece.id);
      }
      if (!hasSingle) this.relax(best, from, ids, start, start + 1, this.unkScore, this.unkId);
    }
    const out: number[] = [];
    for (let end = n; end > 0; end = from[end]) out.push(ids[end]);
    out.reverse();
    return out.filter((id, i) => !(id === this.unkId && out[i - 1] === this.unkId));
  }

  /** Keeps the first of equal scores, as HF's Viterbi does (`score > best_score`). */
  private relax(
    best: Float64Array,
    from: Int32Array,
    ids: Int32Array,
    start: number,
    end: number,
    score: number,
    id: number,
  ) {
    const total = best[start] + score;
    if (total > best[end]) {
      best[end] = total;
      from[end] = start;
      ids[end] = id;
    }
  }
}
