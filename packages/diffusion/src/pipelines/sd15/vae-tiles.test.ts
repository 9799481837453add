/**
 * The tile geometry and blend against diffusers' `tiled_decode` / `tiled_encode` loops, run in
 * numpy float32 with stand-in decoder and encoder functions whose outputs depend on tile-local
 * coordinates (so overlapping tiles disagree and every blend shows). The reference script is
 * docs/memory.md's "Tiled VAE reference"; these are its sha256 digests of the float32 outputs.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeGeometry, encodeGeometry, runTiled, tileLatentSize, type Planar } from './vae-tiles.js';

const f32 = Math.fround;

/** `((c·31 + y·7 + x·3) mod 17) / 8 − 1`: exact in float32, the same in numpy. */
function pattern(channels: number, height: number, width: number): Planar {
  const data = new Float32Array(channels * height * width);
  for (let c = 0, i = 0; c < channels; c++) {
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++, i++) data[i] = ((c * 31 + y * 7 + x * 3) % 17) / 8 - 1;
  }
  return { data, channels, height, width };
}

/** Stand-in decoder: channels 0..2 upsampled ×8, halved, plus (Y + 2X) / 64 in tile coordinates. */
async function fakeDecoder(z: Planar): Promise<Planar> {
  const height = z.height * 8;
  const width = z.width * 8;
  const data = new Float32Array(3 * height * width);
  for (let c = 0, i = 0; c < 3; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++, i++) {
        const v = z.data[(c * z.height + (y >> 3)) * z.width + (x >> 3)];
        data[i] = f32(f32(v * 0.5) + f32((y + 2 * x) / 64));
      }
    }
  }
  return { data, channels: 3, height, width };
}

/** Stand-in encoder: every 8th pixel of channel c mod 3, plus y/4 + x/8 in tile coordinates, 8 channels. */
async function fakeEncoder(image: Planar): Promise<Planar> {
  const height = image.height / 8;
  const width = image.width / 8;
  const data = new Float32Array(8 * height * width);
  for (let c = 0, i = 0; c < 8; c++) {
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++, i++) {
        data[i] = f32(image.data[((c % 3) * image.height + 8 * y) * image.width + 8 * x] + f32(y * 0.25 + x * 0.125));
      }
    }
  }
  return { data, channels: 8, height, width };
}

const sha256 = (x: Planar) =>
  createHash('sha256')
    .update(new Uint8Array(x.data.buffer, x.data.byteOffset, x.data.byteLength))
    .digest('hex');

describe('tiled VAE runs (diffusers tiled_decode / tiled_encode)', () => {
  it("uses diffusers' geometry: overlap 0.25, stride and crop in step", () => {
    expect(decodeGeometry(64)).toEqual({ tileIn: 64, strideIn: 48, blendOut: 128, limitOut: 384, scale: 8 });
    expect(encodeGeometry(64)).toEqual({ tileIn: 512, strideIn: 384, blendOut: 16, limitOut: 48, scale: 1 / 8 });
    expect(tileLatentSize(1024)).toBe(128);
    expect(() => tileLatentSize(1000)).toThrow(/multiple of 32/);
  });

  it("decodes a 7×10 latent in 4-latent tiles to diffusers' bytes (3 rows × 4 columns, ragged edges)", async () => {
    const out = await runTiled(pattern(4, 7, 10), decodeGeometry(4), fakeDecoder);
    expect([out.channels, out.height, out.width]).toEqual([3, 56, 80]);
    expect(out.data[(1 * 56 + 28) * 80 + 26]).toBe(1.0703125);
    expect(sha256(out)).toBe('884d462fa98f773384673d3f5a4065a66356e6b6b705f41f52d1f4f545e9735e');
  });

  it("encodes a 56×80 image in 32-pixel tiles to diffusers' bytes", async () => {
    const out = await runTiled(pattern(3, 56, 80), encodeGeometry(4), fakeEncoder);
    expect([out.channels, out.height, out.width]).toEqual([8, 7, 10]);
    expect(out.data[(1 * 7 + 3) * 10 + 3]).toBe(2.125);
    expect(sha256(out)).toBe('59b75b44eff638692b17fecc8901cbc417b53213c70f5794c8a67c6fa89a98d1');
  });
});
