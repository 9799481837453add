/**
 * Generators of hostile requests for test/fuzz.e2e.test.ts: seeded, so a failure names a seed and
 * an index that reproduce it. Bodies are built as raw bytes, so they can hold what JSON.stringify
 * never writes: 1e400, NaN, duplicate keys, `__proto__`, lone surrogates, invalid UTF-8, broken
 * compression, nesting deep enough to break a recursive parser.
 */
import { brotliCompressSync, crc32, deflateSync, gzipSync } from 'node:zlib';
import sharp from 'sharp';

/** mulberry32: small, seeded, good enough to pick cases. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** A piece of JSON text written as is (for what JSON.stringify cannot write). */
class Raw {
  constructor(readonly text: string) {}
}
type Value = Raw | null | boolean | number | string | Value[] | { [key: string]: Value };

export function toJson(value: Value): string {
  if (value instanceof Raw) return value.text;
  if (Array.isArray(value)) return `[${value.map(toJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${toJson(v)}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const RAW_NUMBERS = [
  '1e400',
  '-1e400',
  'NaN',
  'Infinity',
  '-Infinity',
  '-0',
  '0x10',
  '01',
  '1.',
  '.5',
  '1e',
  '123456789012345678901234567890123',
];
const NUMBERS = [
  0,
  -1,
  1,
  2,
  7,
  0.5,
  1e-300,
  5e-324,
  2 ** 31,
  2 ** 32,
  2 ** 53 + 2,
  2 ** 64,
  -(2 ** 63),
  1e21,
  1e308,
  -1e308,
  64,
  512,
  8192,
  65536,
];
const STRINGS = [
  '',
  ' ',
  '\u0000',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u202e\u202d',
  '\u0085\u2028\u2029',
  '👩‍👩‍👧‍👦🏳️‍🌈',
  'e\u0301\u0301\u0301',
  '𝕏'.repeat(3000),
  '%ff%00',
  '../../../../etc/passwd',
  '<script>alert(1)</script>',
  "'; DROP TABLE jobs; --",
  '${jndi:ldap://x}',
  '{{7*7}}',
  'BREAK '.repeat(1500),
  '(((((((((((a:1.5)))))))))))'.repeat(100),
  'a'.repeat(80_000),
  'null',
  'DDIM',
  'png',
  'http://127.0.0.1:6379/',
  'file:///etc/passwd',
  'javascript:alert(1)',
];
const KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  '\u0000',
  'a'.repeat(500),
  '𝕏',
];

export function hostileValue(rng: Rng, depth = 0): Value {
  switch (rng.int(depth > 2 ? 4 : 8)) {
    case 0:
      return rng.pick(NUMBERS) * (rng.chance(0.2) ? -1 : 1);
    case 1:
      return new Raw(rng.pick(RAW_NUMBERS));
    case 2:
      return rng.pick(STRINGS);
    case 3:
      return rng.pick([null, true, false]);
    case 4:
      return Array.from({ length: rng.int(4) }, () => hostileValue(rng, depth + 1));
    case 5:
      return Object.fromEntries(
        Array.from({ length: rng.int(4) }, () => [rng.pick(KEYS), hostileValue(rng, depth + 1)]),
      );
    case 6:
      return new Raw(`${'['.repeat(5000)}${']'.repeat(5000)}`);
    default:
      return rng.pick(STRINGS).repeat(1 + rng.int(3));
  }
}

/** A body that starts from a valid one and breaks some of it. */
export function mutatedObject(rng: Rng, valid: Record<string, Value>, fields: readonly string[]): Value {
  const body: Record<string, Value> = { ...valid };
  for (let n = 1 + rng.int(3); n > 0; n--) body[rng.pick(fields)] = hostileValue(rng);
  if (rng.chance(0.1)) delete body.prompt;
  if (rng.chance(0.1)) body[rng.pick(KEYS)] = hostileValue(rng);
  return body;
}

export interface FuzzBody {
  kind: string;
  bytes: Buffer;
  headers: Record<string, string>;
}

const JSON_TYPE = { 'content-type': 'application/json' };

/** Text that is JSON in form but hostile in structure, written by hand. */
function structuralJson(rng: Rng, valid: string): string {
  return rng.pick([
    () => `{"__proto__":{"steps":1,"admin":true},${valid.slice(1)}`,
    () => `{"constructor":{"prototype":{"polluted":1}},${valid.slice(1)}`,
    () => `${valid.slice(0, -1)},"prompt":5,"prompt":"again"}`,
    () => `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    () => `${'{"a":'.repeat(20_000)}1${'}'.repeat(20_000)}`,
    () => `{"prompt":${'['.repeat(50_000)}${']'.repeat(50_000)}}`,
    () => valid.slice(0, rng.int(valid.length)),
    () => `\ufeff${valid}`,
    () => `${valid}${valid}`,
    () => `{"prompt":"\\ud800\\udc00\\udfff\\ud800"}`,
    () => `{"prompt":"${'\\u0000'.repeat(1000)}"}`,
    () => '',
    () => 'null',
    () => '[]',
    () => '"a string"',
    () => '1e400',
    () => 'NaN',
  ])();
}

/**
 * A multipart body for `POST /v1/assets`: hostile names and types, files of garbage, a pickle that
 * would run code, parts out of order or cut short, boundaries that lie.
 */
export function fuzzMultipart(rng: Rng): FuzzBody {
  const boundary = rng.pick(['fuzz', 'x'.repeat(80), '--', 'b']);
  const part = (name: string, value: string | Buffer, file = false) =>
    Buffer.concat([
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${name}"${file ? '; filename="f.bin"' : ''}\r\n\r\n`,
      ),
      Buffer.from(value),
      Buffer.from('\r\n'),
    ]);
  const file = rng.pick([
    () => Buffer.alloc(rng.int(4096), rng.int(256)),
    () => Buffer.from('\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.', 'latin1'),
    () => Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]), Buffer.from('{}')]),
    () => Buffer.from('PK\x03\x04garbage'),
  ])();
  const parts = [
    part('name', rng.pick(['style', '../etc/passwd', '', 'a'.repeat(300), 'library:x', '\u0000'])),
    part('type', rng.pick(['lora', 'textual_inversion', 'vae', 'checkpoint', 'model', ''])),
    part(rng.pick(['file', 'file', 'other']), file, true),
  ];
  if (rng.chance(0.3)) parts.reverse();
  let bytes = Buffer.concat([...parts, Buffer.from(`--${boundary}--\r\n`)]);
  if (rng.chance(0.2)) bytes = bytes.subarray(0, rng.int(bytes.length));
  const type = rng.chance(0.9) ? `multipart/form-data; boundary=${rng.chance(0.9) ? boundary : 'other'}` : 'text/plain';
  return { kind: 'multipart', bytes, headers: { 'content-type': type } };
}

let bomb: Buffer | undefined;
/** 64 MB of spaces in 64 kB of gzip, made once. */
const gzipBomb = () => (bomb ??= gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)));

/** One generated body for a JSON route, with the headers that go with it. */
export function fuzzBody(rng: Rng, valid: Record<string, Value>, fields: readonly string[]): FuzzBody {
  const validText = toJson(valid);
  const r = rng.next();
  if (r < 0.45)
    return { kind: 'mutated', bytes: Buffer.from(toJson(mutatedObject(rng, valid, fields))), headers: JSON_TYPE };
  if (r < 0.55) return { kind: 'random value', bytes: Buffer.from(toJson(hostileValue(rng))), headers: JSON_TYPE };
  if (r < 0.7) return { kind: 'structural', bytes: Buffer.from(structuralJson(rng, validText)), headers: JSON_TYPE };
  if (r < 0.78) {
    // Bytes that are not UTF-8, or text in another charset than declared.
    return rng.pick([
      () => ({
        kind: 'invalid utf-8',
        bytes: Buffer.concat([
          Buffer.from('{"prompt":"'),
          Buffer.from([0xc0, 0xaf, 0xff, 0xfe, 0xed, 0xa0, 0x80]),
          Buffer.from('"}'),
        ]),
        headers: JSON_TYPE,
      }),
      () => ({
        kind: 'utf-16',
        bytes: Buffer.from(validText, 'utf16le'),
        headers: { 'content-type': 'application/json; charset=utf-16' },
      }),
      () => ({
        kind: 'latin1',
        bytes: Buffer.from(validText, 'latin1'),
        headers: { 'content-type': 'application/json; charset=iso-8859-1' },
      }),
      () => ({
        kind: 'unknown charset',
        bytes: Buffer.from(validText),
        headers: { 'content-type': 'application/json; charset=klingon' },
      }),
    ])();
  }
  if (r < 0.9) {
    // Content-Encoding that lies, truncates or is unknown.
    const good = Buffer.from(validText);
    return rng.pick([
      () => ({
        kind: 'gzip garbage',
        bytes: Buffer.from('definitely not gzip'),
        headers: { ...JSON_TYPE, 'content-encoding': 'gzip' },
      }),
      () => ({
        kind: 'gzip truncated',
        bytes: gzipSync(good).subarray(0, 15),
        headers: { ...JSON_TYPE, 'content-encoding': 'gzip' },
      }),
      () => ({
        kind: 'deflate garbage',
        bytes: Buffer.from('xx not deflate'),
        headers: { ...JSON_TYPE, 'content-encoding': 'deflate' },
      }),
      () => ({
        kind: 'deflate as gzip',
        bytes: deflateSync(good),
        headers: { ...JSON_TYPE, 'content-encoding': 'gzip' },
      }),
      () => ({
        kind: 'br garbage',
        bytes: Buffer.from([0xff, 0xff, 0xff, 0x00, 0x12]),
        headers: { ...JSON_TYPE, 'content-encoding': 'br' },
      }),
      () => ({
        kind: 'br truncated',
        bytes: brotliCompressSync(good).subarray(0, 5),
        headers: { ...JSON_TYPE, 'content-encoding': 'br' },
      }),
      () => ({ kind: 'gzip bomb', bytes: gzipBomb(), headers: { ...JSON_TYPE, 'content-encoding': 'gzip' } }),
      () => ({
        kind: 'unknown encoding',
        bytes: good,
        headers: { ...JSON_TYPE, 'content-encoding': rng.pick(['zstd', 'compress', 'gzip, br', 'x-evil']) },
      }),
    ])();
  }
  return rng.pick([
    () => ({ kind: 'no content-type', bytes: Buffer.from(validText), headers: {} as Record<string, string> }),
    () => ({ kind: 'text/plain', bytes: Buffer.from(validText), headers: { 'content-type': 'text/plain' } }),
    () => ({
      kind: 'form',
      bytes: Buffer.from('prompt=a&steps=2'),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    }),
    () => ({
      kind: 'multipart',
      bytes: Buffer.from('--x\r\n\r\nhi\r\n--x--'),
      headers: { 'content-type': 'multipart/form-data; boundary=x' },
    }),
    () => ({
      kind: 'huge prompt',
      bytes: Buffer.from(toJson({ ...valid, prompt: 'x'.repeat(1_000_000 + rng.int(1000)) })),
      headers: JSON_TYPE,
    }),
  ])();
}

/** Odd ids for the routes that take one (UUIDs are also mixed in by the caller). */
export const ODD_IDS = [
  'events',
  'completed',
  'id',
  'stalled-check',
  'wait',
  'meta',
  'active',
  'failed',
  'prioritized',
  'paused',
  'marker',
  'limiter',
  'repeat',
  'de',
  'pc',
  '%ff',
  '%E0%A4%A',
  '%',
  '%00',
  '%2e%2e',
  '..',
  '.',
  '*',
  '%2A',
  ':',
  'a:b',
  '%0d%0aSet-Cookie:%20x=1',
  '%F0%9F%92%A9',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  'FFFFFFFF-FFFF-4FFF-8FFF-FFFFFFFFFFFF',
  '1',
  '-1',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  'x'.repeat(5000),
];

export function queryValue(rng: Rng): string {
  return encodeURIComponent(
    rng.pick([
      '',
      '-1',
      '0',
      '1e400',
      'NaN',
      '99999999999999999999',
      '2024-02-30',
      '9999-99-99',
      'completed,failed,zzz',
      'a'.repeat(3000),
      '\u0000',
      '𝕏',
      '[]',
      '{}',
    ]),
  );
}

// ----------------------------------------------------------------------------- hostile images

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG with a valid structure whose header claims width×height; its data inflates to `rows` rows of zeros. */
function pngBomb(width: number, height: number, rows: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const idat = deflateSync(Buffer.alloc(rows * (1 + width * 3)), { level: 9 });
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', idat),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Inserts a chunk after IHDR (an `acTL` makes any PNG an animated PNG). */
function withChunkAfterIhdr(png: Buffer, type: string, data: Buffer): Buffer {
  const afterIhdr = 8 + 12 + png.readUInt32BE(8);
  return Buffer.concat([png.subarray(0, afterIhdr), pngChunk(type, data), png.subarray(afterIhdr)]);
}

/** The offset of a JPEG's SOF0/SOF2 segment marker. */
function sofOffset(jpeg: Buffer): number {
  for (let i = 2; i < jpeg.length - 1;) {
    const marker = jpeg[i + 1]!;
    if (marker === 0xc0 || marker === 0xc2) return i;
    i += 2 + jpeg.readUInt16BE(i + 2);
  }
  throw new Error('no SOF');
}

const u24 = (n: number) => Buffer.from([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff]);
function riffChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(type, 0, 'latin1');
  head.writeUInt32LE(data.length, 4);
  return Buffer.concat([head, data, Buffer.alloc(data.length & 1)]);
}

/** An animated WebP (VP8X + ANIM + two ANMF frames) from a still one's `VP8 ` chunk. */
function animateWebp(still: Buffer, width: number, height: number): Buffer {
  const frame = still.subarray(12); // the VP8 chunk, header included
  const vp8x = Buffer.concat([Buffer.from([0x02, 0, 0, 0]), u24(width - 1), u24(height - 1)]);
  const anmf = Buffer.concat([u24(0), u24(0), u24(width - 1), u24(height - 1), u24(100), Buffer.from([0]), frame]);
  const body = Buffer.concat([
    Buffer.from('WEBP'),
    riffChunk('VP8X', vp8x),
    riffChunk('ANIM', Buffer.from([0, 0, 0, 0, 0, 0])),
    riffChunk('ANMF', anmf),
    riffChunk('ANMF', anmf),
  ]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

export interface HostileImage {
  name: string;
  bytes: Buffer;
}

/** Images that must be refused with 400 naming their field, and a few good ones that must not be. */
export async function hostileImages(): Promise<{ good: HostileImage[]; bad: HostileImage[] }> {
  const noise = sharp({
    create: {
      width: 64,
      height: 64,
      channels: 3,
      background: '#808080',
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  });
  const png = await noise.clone().png().toBuffer();
  const jpeg = await noise.clone().jpeg().toBuffer();
  const webp = await noise.clone().webp().toBuffer();
  const good = [
    { name: 'png', bytes: png },
    { name: 'jpeg', bytes: jpeg },
    { name: 'progressive jpeg', bytes: await noise.clone().jpeg({ progressive: true }).toBuffer() },
    { name: 'webp', bytes: webp },
    { name: 'lossless webp', bytes: await noise.clone().webp({ lossless: true }).toBuffer() },
    { name: 'gray png', bytes: await noise.clone().grayscale().png().toBuffer() },
    { name: 'rgba png', bytes: await noise.clone().ensureAlpha().png().toBuffer() },
    { name: 'palette png', bytes: await noise.clone().png({ palette: true }).toBuffer() },
  ];

  const png16 = await noise.clone().toColourspace('rgb16').png().toBuffer();
  if (png16[24] !== 16) throw new Error('sharp did not write a 16-bit PNG');
  const cmyk = await noise.clone().toColourspace('cmyk').jpeg().toBuffer();
  if (cmyk[sofOffset(cmyk) + 9] !== 4) throw new Error('sharp did not write a 4-component JPEG');
  const animatedWebp = animateWebp(
    await sharp({ create: { width: 32, height: 32, channels: 3, background: '#f00' } })
      .webp()
      .toBuffer(),
    32,
    32,
  );
  if ((await sharp(animatedWebp, { animated: true }).metadata()).pages !== 2)
    throw new Error('the animated WebP does not have 2 frames');
  const jpeg12 = Buffer.from(jpeg);
  jpeg12[sofOffset(jpeg12) + 4] = 12;
  const hugeJpeg = Buffer.from(jpeg);
  hugeJpeg.writeUInt16BE(65000, sofOffset(hugeJpeg) + 5);
  hugeJpeg.writeUInt16BE(65000, sofOffset(hugeJpeg) + 7);
  const badCrc = Buffer.from(png);
  badCrc[40] ^= 0xff;
  const flipped = Buffer.from(png);
  flipped[0] = 0x88;

  const bad = [
    { name: 'decompression bomb png 30000×30000', bytes: pngBomb(30_000, 30_000, 64) },
    { name: 'png 1×100000 (one side too long)', bytes: pngBomb(1, 100_000, 64) },
    { name: 'jpeg claiming 65000×65000', bytes: hugeJpeg },
    { name: 'png truncated at half', bytes: png.subarray(0, png.length >> 1) },
    { name: 'png without IEND', bytes: png.subarray(0, png.length - 12) },
    { name: 'png with a bad CRC', bytes: badCrc },
    { name: 'jpeg truncated at half', bytes: jpeg.subarray(0, jpeg.length >> 1) },
    { name: 'jpeg without its end marker', bytes: jpeg.subarray(0, jpeg.length - 2) },
    { name: 'webp truncated', bytes: webp.subarray(0, webp.length - 10) },
    { name: 'png with a wrong first byte', bytes: flipped },
    { name: 'gif', bytes: Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64') },
    { name: 'bmp magic', bytes: Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]) },
    { name: 'tiff magic', bytes: Buffer.concat([Buffer.from([0x49, 0x49, 0x2a, 0x00]), Buffer.alloc(60)]) },
    { name: 'svg', bytes: Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"/>') },
    { name: 'pdf', bytes: Buffer.from('%PDF-1.4\n%âãÏÓ\n') },
    { name: 'jpeg SOI only', bytes: Buffer.from([0xff, 0xd8, 0xff]) },
    { name: 'cmyk jpeg', bytes: cmyk },
    { name: '12-bit jpeg', bytes: jpeg12 },
    { name: '16-bit png', bytes: png16 },
    { name: 'animated png', bytes: withChunkAfterIhdr(png, 'acTL', Buffer.from([0, 0, 0, 2, 0, 0, 0, 0])) },
    { name: 'animated webp', bytes: animatedWebp },
  ];
  return { good, bad };
}
