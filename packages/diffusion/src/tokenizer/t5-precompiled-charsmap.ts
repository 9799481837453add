/**
 * SentencePiece's compiled normalization rules (`precompiled_charsmap`, T5's `nmt_nfkc`), applied as
 * HF tokenizers' `Precompiled` normalizer does (spm_precompiled): the blob is a little-endian u32
 * trie size, a Darts-clone double-array trie over UTF-8 bytes, then the replacement strings, each
 * ended by a NUL. Text is walked grapheme by grapheme; a grapheme shorter than 6 UTF-8 bytes is
 * replaced whole when some rule matches a prefix of it (the shortest matching rule, as HF takes
 * the first common-prefix result); otherwise each of its characters is looked up on its own.
 */

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Darts-clone's unit fields. */
const hasLeaf = (unit: number) => ((unit >>> 8) & 1) === 1;
const valueOf = (unit: number) => unit & 0x7fffffff;
const labelOf = (unit: number) => (unit & 0x800000ff) >>> 0;
const offsetOf = (unit: number) => (unit >>> 10) * 2 ** ((unit & (1 << 9)) >>> 6);

export class PrecompiledCharsMap {
  private readonly units: Uint32Array;
  private readonly replacements: Uint8Array;

  constructor(blob: Uint8Array) {
    if (blob.length < 4) throw new Error('precompiled_charsmap: too short');
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieBytes = view.getUint32(0, true);
    if (trieBytes % 4 !== 0 || 4 + trieBytes > blob.length) throw new Error('precompiled_charsmap: bad trie size');
    this.units = new Uint32Array(trieBytes / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.replacements = blob.subarray(4 + trieBytes);
  }

  static fromBase64(text: string): PrecompiledCharsMap {
    return new PrecompiledCharsMap(new Uint8Array(Buffer.from(text, 'base64')));
  }

  normalize(text: string): string {
    let out = '';
    for (const { segment } of graphemes.segment(text)) {
      const whole = utf8.encode(segment).length < 6 ? this.transform(segment) : undefined;
      if (whole !== undefined) {
        out += whole;
        continue;
      }
      for (const char of segment) out += this.transform(char) ?? char;
    }
    return out;
  }

  /** The replacement of the shortest rule matching a prefix of `chunk`, or undefined. */
  private transform(chunk: string): string | undefined {
    const index = this.firstPrefixValue(utf8.encode(chunk));
    if (index === undefined) return undefined;
    let end = index;
    while (end < this.replacements.length && this.replacements[end] !== 0) end++;
    return fromUtf8.decode(this.replacements.subarray(index, end));
  }

  /** Darts-clone `commonPrefixSearch`, stopping at the first (shortest) match. */
  private firstPrefixValue(key: Uint8Array): number | undefined {
    const units = this.units;
    if (units.length === 0) return undefined;
    let node = offsetOf(units[0]);
    for (const byte of key) {
      if (byte === 0) return undefined;
      node ^= byte;
      const unit = units[node];
      if (unit === undefined || labelOf(unit) !== byte) return undefined;
      node ^= offsetOf(unit);
      if (hasLeaf(unit)) return units[node] === undefined ? undefined : valueOf(units[node]);
    }
    return undefined;
  }
}
