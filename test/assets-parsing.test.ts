/**
 * Safe parsing of untrusted asset files: safetensors headers are checked against the real file
 * before anything is sliced, and `.pt` pickles run in an interpreter that refuses every global
 * but the tensor constructors, before anything could be called.
 */
import { describe, expect, it } from 'vitest';
import { AssetError, parseEmbedding, parseSafetensors, readTorchFile, readZip, unpickle } from '@kiln/diffusion';
import { encodeSafetensors, encodeStoredZip, makeTinyEmbedding } from '@kiln/testkit';

function expectAssetError(run: () => unknown, code: string, message: RegExp): void {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(AssetError);
    expect((err as AssetError).code).toBe(code);
    expect((err as Error).message).toMatch(message);
    return;
  }
  throw new Error('expected an AssetError');
}

/** A safetensors file with a hand-written header, for lies the writer would never tell. */
function rawSafetensors(header: unknown, dataBytes: number, lengthField?: bigint): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

describe('safetensors', () => {
  const values = Float32Array.from([0.5, -1.25, 3, 1e-3, 65504, -0]);
  const file = encodeSafetensors(
    { a: { dtype: 'F32', shape: [2, 3], values }, b: { dtype: 'F16', shape: [6], values } },
    { note: 'hi' },
  );

  it('reads F32 and F16 tensors and the metadata', () => {
    const parsed = parseSafetensors(file, 'ok.safetensors');
    expect(parsed.metadata).toEqual({ note: 'hi' });
    expect(parsed.tensors.get('a')).toEqual({ dtype: 'F32', shape: [2, 3], values });
    // 1e-3 is not a float16: it reads back as the nearest one, 1.0004 × 2^-10 (0x1419).
    expect([...parsed.tensors.get('b')!.values]).toEqual([0.5, -1.25, 3, (1 + 25 / 1024) * 2 ** -10, 65504, -0]);
  });

  it('reads BF16 as the top half of a float32', () => {
    const bits = rawSafetensors({ x: { dtype: 'BF16', shape: [1], data_offsets: [0, 2] } }, 2);
    bits.set([0x80, 0x3f], bits.byteLength - 2);
    expect([...parseSafetensors(bits).tensors.get('x')!.values]).toEqual([1]);
  });

  it('refuses a truncated file', () => {
    const truncated = file.subarray(0, file.byteLength - 4);
    expectAssetError(
      () => parseSafetensors(truncated, 't.safetensors'),
      'invalid_safetensors',
      /t\.safetensors: .*past the end/,
    );
    expectAssetError(
      () => parseSafetensors(file.subarray(0, 5)),
      'invalid_safetensors',
      /shorter than the 8-byte header length/,
    );
  });

  it('refuses a header length field that lies, without allocating what it claims', () => {
    const huge = rawSafetensors({}, 0, 2n ** 63n);
    expectAssetError(
      () => parseSafetensors(huge),
      'invalid_safetensors',
      /header length field says 9223372036854775808 bytes/,
    );
  });

  it('refuses overlapping, out-of-file and mis-sized tensors, and unsupported dtypes', () => {
    const overlap = rawSafetensors(
      { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
      12,
    );
    expectAssetError(() => parseSafetensors(overlap), 'invalid_safetensors', /tensor b overlaps the previous tensor/);
    const outside = rawSafetensors({ a: { dtype: 'F32', shape: [1000], data_offsets: [0, 4000] } }, 8);
    expectAssetError(() => parseSafetensors(outside), 'invalid_safetensors', /past the end of the data/);
    const lyingShape = rawSafetensors({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8);
    expectAssetError(
      () => parseSafetensors(lyingShape),
      'invalid_safetensors',
      /shape \[3\] × F32 is 12 bytes but data_offsets span 8/,
    );
    const ints = rawSafetensors({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, 8);
    expectAssetError(() => parseSafetensors(ints), 'invalid_safetensors', /dtype "I64" is not supported/);
    const notJson = rawSafetensors({}, 0);
    notJson.set(new TextEncoder().encode('{x'), 8);
    expectAssetError(() => parseSafetensors(notJson), 'invalid_safetensors', /not valid UTF-8 JSON/);
  });
});

describe('.pt files', () => {
  it('reads an A1111 embedding written like torch.save', () => {
    const embedding = makeTinyEmbedding(8, 2);
    const file = readTorchFile(embedding.a1111Pt, 'e.pt');
    expect(file.root).toBeInstanceOf(Map);
    expect(parseEmbedding(embedding.a1111Pt, 'e.pt')).toMatchObject({ vectors: 2, dim: 8, values: embedding.values });
  });

  it('refuses a pickle that names os.system, before calling anything', () => {
    // cos\nsystem\n(S'touch /tmp/pwned'\ntR. — the classic payload, protocol 0.
    const payload = new TextEncoder().encode("cos\nsystem\n(S'touch /tmp/pwned'\ntR.");
    expectAssetError(() => unpickle(payload, 'evil.pt'), 'unsafe_pickle', /evil\.pt: refuses global os\.system/);
  });

  it('refuses STACK_GLOBAL, INST and BUILD to anything outside the allowed set', () => {
    const text = (s: string) => [0x8c, s.length, ...new TextEncoder().encode(s)];
    const stackGlobal = Uint8Array.from([0x80, 4, ...text('builtins'), ...text('eval'), 0x93, 0x2e]);
    expectAssetError(() => unpickle(stackGlobal), 'unsafe_pickle', /refuses global builtins\.eval/);
    const inst = new TextEncoder().encode('(ios\nsystem\n.');
    expectAssetError(() => unpickle(inst), 'unsafe_pickle', /refuses INST "os\.system"/);
    const build = Uint8Array.from([0x80, 2, 0x7d, 0x7d, 0x62, 0x2e]);
    expectAssetError(() => unpickle(build), 'unsafe_pickle', /building objects is not allowed/);
    const reduceString = Uint8Array.from([0x80, 2, ...text('x'), 0x29, 0x52, 0x2e]);
    expectAssetError(() => unpickle(reduceString), 'invalid_pickle', /REDUCE target is not an allowed global/);
  });

  it('refuses a .pt archive whose pickle carries code', () => {
    const evil = new TextEncoder().encode("cposix\nsystem\n(S'id'\ntR.");
    const bytes = encodeStoredZip([
      ['archive/data.pkl', evil],
      ['archive/version', new TextEncoder().encode('3\n')],
    ]);
    expect([...readZip(bytes).keys()]).toEqual(['archive/data.pkl', 'archive/version']);
    expectAssetError(() => readTorchFile(bytes, 'evil.pt'), 'unsafe_pickle', /evil\.pt: refuses global posix\.system/);
  });

  it('names a legacy (non-zip) torch.save file instead of misreading it', () => {
    const legacy = Uint8Array.from([
      0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
    ]);
    expectAssetError(
      () => parseEmbedding(legacy, 'old.pt'),
      'invalid_embedding',
      /old\.pt: legacy \(pre-1\.6\) torch\.save/,
    );
  });

  it('refuses a corrupted archive', () => {
    const bytes = makeTinyEmbedding(8).a1111Pt.slice();
    bytes[60] ^= 0xff; // inside data.pkl's bytes
    expectAssetError(() => readTorchFile(bytes, 'bad.pt'), 'invalid_zip', /fails its CRC-32 check/);
    expectAssetError(
      () => readTorchFile(bytes.subarray(0, 40), 'cut.pt'),
      'invalid_zip',
      /no end-of-central-directory/,
    );
  });
});
