/**
 * The text steps of an HF `tokenizer.json` that run before T5's Unigram model: the normalizer and
 * the Metaspace pre-tokenizer. Only what T5 tokenizer files use is read; anything else is refused
 * by name rather than skipped.
 */
import { PrecompiledCharsMap } from './t5-precompiled-charsmap.js';

type Json = Record<string, unknown>;

export type TextStep = (text: string) => string;

/** One normalizer of tokenizer.json as a string → string function. */
export function normalizerStep(spec: unknown): TextStep {
  if (spec === null || spec === undefined) return (t) => t;
  const n = spec as Json;
  switch (n.type) {
    case 'Sequence': {
      const steps = ((n.normalizers as unknown[]) ?? []).map(normalizerStep);
      return (t) => steps.reduce((acc, step) => step(acc), t);
    }
    case 'Replace': {
      const pattern = n.pattern as { String?: string; Regex?: string };
      const content = String(n.content ?? '');
      const literal = pattern?.String;
      if (typeof literal === 'string') return (t) => t.split(literal).join(content);
      if (typeof pattern?.Regex === 'string') {
        const regex = new RegExp(pattern.Regex, 'gu');
        return (t) => t.replace(regex, () => content);
      }
      throw new Error('tokenizer.json: Replace normalizer without a String or Regex pattern');
    }
    case 'Precompiled': {
      // An empty map (some conversions write one) changes nothing.
      const map =
        typeof n.precompiled_charsmap === 'string' && n.precompiled_charsmap !== '' ? n.precompiled_charsmap : null;
      if (!map) return (t) => t;
      const charsMap = PrecompiledCharsMap.fromBase64(map);
      return (t) => charsMap.normalize(t);
    }
    case 'NFKC':
      return (t) => t.normalize('NFKC');
    case 'NFC':
      return (t) => t.normalize('NFC');
    case 'Lowercase':
      return (t) => t.toLowerCase();
    default:
      throw new Error(`tokenizer.json: normalizer ${JSON.stringify(n.type)} is not supported by Kiln's T5 tokenizer`);
  }
}

export interface Metaspace {
  replacement: string;
  /** Prepend the replacement to a text that does not start with it ("always"; "first" = the text's first segment). */
  prepend: 'always' | 'first' | 'never';
  split: boolean;
}

/** Reads a `Metaspace` pre-tokenizer (also inside a `Sequence`, and the older `add_prefix_space` form). */
export function readMetaspace(spec: unknown): Metaspace {
  const p = (spec ?? {}) as Json;
  if (p.type === 'Sequence') {
    const inner = ((p.pretokenizers as Json[]) ?? []).filter((x) => x.type !== 'WhitespaceSplit');
    if (inner.length !== 1) throw new Error('tokenizer.json: expected one Metaspace pre-tokenizer');
    return readMetaspace(inner[0]);
  }
  if (p.type !== 'Metaspace') {
    throw new Error(`tokenizer.json: pre_tokenizer ${JSON.stringify(p.type)} is not supported by Kiln's T5 tokenizer`);
  }
  const scheme = p.prepend_scheme ?? (p.add_prefix_space === false ? 'never' : 'always');
  if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') {
    throw new Error(`tokenizer.json: Metaspace prepend_scheme ${JSON.stringify(scheme)} is not supported`);
  }
  return { replacement: String(p.replacement ?? '▁'), prepend: scheme, split: p.split !== false };
}

/**
 * HF's Metaspace: every " " becomes the replacement; the replacement is prepended unless the text
 * already starts with it (a no-op on ""); then the text is split before each replacement, each word
 * keeping its leading one.
 */
export function metaspaceWords(text: string, m: Metaspace, isFirstSegment: boolean): string[] {
  let t = text.split(' ').join(m.replacement);
  const prepend = m.prepend === 'always' || (m.prepend === 'first' && isFirstSegment);
  if (prepend && t !== '' && !t.startsWith(m.replacement)) t = m.replacement + t;
  if (!m.split) return t === '' ? [] : [t];
  const words: string[] = [];
  let start = 0;
  for (let i = t.indexOf(m.replacement, 1); i !== -1; i = t.indexOf(m.replacement, i + 1)) {
    words.push(t.slice(start, i));
    start = i;
  }
  if (start < t.length) words.push(t.slice(start));
  return words;
}
