/**
 * The Precompiled normalizer reads SentencePiece's compiled rules (a Darts-clone double array).
 * No real T5 charsmap ships with the tests, so these build one in that format from a few rules and
 * check HF's lookup semantics: the shortest matching rule, whole graphemes under 6 bytes,
 * character by character otherwise.
 */
import { describe, expect, it } from 'vitest';
import { PrecompiledCharsMap } from './t5-precompiled-charsmap.js';
import { normalizerStep } from './t5-text-steps.js';

interface TrieNode {
  children: Map<number, TrieNode>;
  value?: number;
}

/** A Darts-clone double array for `rules`, each node's children in a 256-unit block of its own. */
function charsMapBlob(rules: Record<string, string>): Uint8Array {
  const root: TrieNode = { children: new Map() };
  const pool: number[] = [];
  for (const [from, to] of Object.entries(rules)) {
    let node = root;
    for (const byte of new TextEncoder().encode(from)) {
      if (!node.children.has(byte)) node.children.set(byte, { children: new Map() });
      node = node.children.get(byte)!;
    }
    node.value = pool.length;
    pool.push(...new TextEncoder().encode(to), 0);
  }
  const units: number[] = [];
  let nextBlock = 256;
  const place = (node: TrieNode, position: number) => {
    const base = nextBlock;
    nextBlock += 256;
    units[position] = (units[position] ?? 0) | ((position ^ base) << 10);
    if (node.value !== undefined) {
      units[position] |= 0x100; // has_leaf; the value sits at base ^ 0
      units[base] = node.value;
    }
    for (const [byte, child] of node.children) {
      units[base ^ byte] = byte; // label
      place(child, base ^ byte);
    }
  };
  place(root, 0);
  const trie = Uint32Array.from({ length: nextBlock }, (_, i) => units[i] ?? 0);
  const blob = new Uint8Array(4 + trie.byteLength + pool.length);
  new DataView(blob.buffer).setUint32(0, trie.byteLength, true);
  blob.set(new Uint8Array(trie.buffer), 4);
  blob.set(pool, 4 + trie.byteLength);
  return blob;
}

const map = new PrecompiledCharsMap(
  charsMapBlob({ A: 'a', '\u3000': ' ', '\t': ' ', e: 'E', ab: 'X', '\u00bd': '1⁄2', '\u200b': '' }),
);

describe("PrecompiledCharsMap (HF tokenizers' Precompiled normalizer)", () => {
  it('replaces characters that have a rule and keeps the others', () => {
    expect(map.normalize('A cat\u3000in\tHats')).toBe('a cat in Hats');
    expect(map.normalize('\u00bd no\u200bgap')).toBe('1⁄2 nogap');
  });

  it('looks up grapheme by grapheme: a rule spanning two graphemes ("ab") never applies', () => {
    expect(map.normalize('ab')).toBe('ab');
  });

  it("replaces a whole grapheme under 6 bytes by its first character's rule (HF's behaviour)", () => {
    expect(map.normalize('e\u0301')).toBe('E');
    // 👍🏽 is one grapheme of 8 bytes: looked up character by character (no rules here).
    expect(map.normalize('👍🏽')).toBe('👍🏽');
  });

  it('is what a tokenizer.json Precompiled normalizer does; an empty map changes nothing', () => {
    const base64 = Buffer.from(charsMapBlob({ A: 'a' })).toString('base64');
    expect(normalizerStep({ type: 'Precompiled', precompiled_charsmap: base64 })('A A')).toBe('a a');
    expect(normalizerStep({ type: 'Precompiled', precompiled_charsmap: '' })('A')).toBe('A');
  });
});
