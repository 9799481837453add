/**
 * Tiled VAE runs, as diffusers' `AutoencoderKL.tiled_decode` / `tiled_encode` (enable_vae_tiling):
 * the input is cut into overlapping square tiles, each tile runs through the VAE alone, and each
 * output tile is blended into its upper and left neighbours over `overlap` of a tile, then cropped
 * to the stride. One tile's activations bound the VAE's memory whatever the image size.
 *
 * The geometry and the blend are diffusers' (tile_overlap_factor 0.25; the blend weights
 * `1 − y/extent` and `y/extent` in float32, applied in place in row-major tile order, so a tile
 * blends with neighbours that are already blended). Where Kiln differs: diffusers' tile is the
 * VAE's `sample_size` (512 px for SD1.5), Kiln's default is 1024 px (DEFAULT_VAE_TILE_SIZE), so
 * every image up to 1024×1024 still decodes whole and keeps the pixels it had before tiling
 * existed; a 1024 px tile's memory is counted by @kiln/memory. `vaeTileSize: 512`
 * gives diffusers' tiles exactly.
 */

const f32 = Math.fround;

/** Kiln's default VAE tile side in pixels (diffusers: the VAE's sample_size, 512 for SD1.5). */
export const DEFAULT_VAE_TILE_SIZE = 1024;
/** diffusers' `tile_overlap_factor`. */
const OVERLAP = 0.25;
/** VAE spatial scale between pixels and latents. */
const VAE_SCALE = 8;

/** A float32 [1, channels, height, width] tensor. */
export interface Planar {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/** The tile side in latent pixels; a multiple of 4 keeps the latent and pixel strides in step. */
export function tileLatentSize(tileSize: number): number {
  if (!Number.isInteger(tileSize) || tileSize < 32 || tileSize % 32 !== 0) {
    throw new Error(`vaeTileSize must be a positive multiple of 32 pixels, got ${tileSize}`);
  }
  return tileSize / VAE_SCALE;
}

/** Copies the window [top, top + height) × [left, left + width) of `x` (clipped to x). */
export function cropPlanar(x: Planar, top: number, left: number, height: number, width: number): Planar {
  const h = Math.min(height, x.height - top);
  const w = Math.min(width, x.width - left);
  const data = new Float32Array(x.channels * h * w);
  for (let c = 0; c < x.channels; c++) {
    for (let y = 0; y < h; y++) {
      const from = (c * x.height + top + y) * x.width + left;
      data.set(x.data.subarray(from, from + w), (c * h + y) * w);
    }
  }
  return { data, channels: x.channels, height: h, width: w };
}

/** diffusers' `blend_v`: b's first rows fade in from a's last rows; writes into b. */
export function blendVertical(a: Planar, b: Planar, extent: number): void {
  const e = Math.min(a.height, b.height, extent);
  const w = b.width;
  for (let c = 0; c < b.channels; c++) {
    for (let y = 0; y < e; y++) {
      const wa = f32(1 - y / e);
      const wb = f32(y / e);
      const ra = (c * a.height + a.height - e + y) * a.width;
      const rb = (c * b.height + y) * w;
      for (let x = 0; x < w; x++) b.data[rb + x] = f32(f32(a.data[ra + x] * wa) + f32(b.data[rb + x] * wb));
    }
  }
}

/** diffusers' `blend_h`: b's first columns fade in from a's last columns; writes into b. */
export function blendHorizontal(a: Planar, b: Planar, extent: number): void {
  const e = Math.min(a.width, b.width, extent);
  const rows = Math.min(a.height, b.height);
  for (let c = 0; c < b.channels; c++) {
    for (let y = 0; y < rows; y++) {
      const ra = (c * a.height + y) * a.width + a.width - e;
      const rb = (c * b.height + y) * b.width;
      for (let x = 0; x < e; x++) {
        b.data[rb + x] = f32(f32(a.data[ra + x] * f32(1 - x / e)) + f32(b.data[rb + x] * f32(x / e)));
      }
    }
  }
}

export interface TileGeometry {
  /** Input tile side and the stride between tile starts, in input pixels. */
  tileIn: number;
  strideIn: number;
  /** Blend width and the cropped tile side, in output pixels. */
  blendOut: number;
  limitOut: number;
  /** Output pixels per input pixel (8 to decode, 1/8 to encode). */
  scale: number;
}

/** diffusers' `tiled_decode` geometry for a tile of `tileLatent` latent pixels. */
export function decodeGeometry(tileLatent: number): TileGeometry {
  const sampleTile = tileLatent * VAE_SCALE;
  const blendOut = Math.floor(sampleTile * OVERLAP);
  return {
    tileIn: tileLatent,
    strideIn: Math.floor(tileLatent * (1 - OVERLAP)),
    blendOut,
    limitOut: sampleTile - blendOut,
    scale: VAE_SCALE,
  };
}

/** diffusers' `tiled_encode` geometry for a tile of `tileLatent` latent pixels. */
export function encodeGeometry(tileLatent: number): TileGeometry {
  const sampleTile = tileLatent * VAE_SCALE;
  const blendOut = Math.floor(tileLatent * OVERLAP);
  return {
    tileIn: sampleTile,
    strideIn: Math.floor(sampleTile * (1 - OVERLAP)),
    blendOut,
    limitOut: tileLatent - blendOut,
    scale: 1 / VAE_SCALE,
  };
}

/**
 * Runs `run` on each tile of `input` and blends the outputs into one tensor. Holds the previous
 * row of blended tiles and the current one, not the whole grid.
 */
export async function runTiled(
  input: Planar,
  g: TileGeometry,
  run: (tile: Planar) => Promise<Planar>,
): Promise<Planar> {
  const outHeight = input.height * g.scale;
  const outWidth = input.width * g.scale;
  let out: Float32Array | undefined;
  let channels = 0;
  let above: Planar[] = [];
  let outTop = 0;
  for (let top = 0; top < input.height; top += g.strideIn) {
    const row: Planar[] = [];
    let outLeft = 0;
    let rowHeight = 0;
    for (let left = 0, j = 0; left < input.width; left += g.strideIn, j++) {
      const tile = await run(cropPlanar(input, top, left, g.tileIn, g.tileIn));
      if (!out) {
        channels = tile.channels;
        out = new Float32Array(channels * outHeight * outWidth);
      }
      if (above.length > 0) blendVertical(above[j], tile, g.blendOut);
      if (j > 0) blendHorizontal(row[j - 1], tile, g.blendOut);
      row.push(tile);
      const kept = cropPlanar(tile, 0, 0, g.limitOut, g.limitOut);
      for (let c = 0; c < channels; c++) {
        for (let y = 0; y < kept.height; y++) {
          const from = (c * kept.height + y) * kept.width;
          out.set(kept.data.subarray(from, from + kept.width), (c * outHeight + outTop + y) * outWidth + outLeft);
        }
      }
      outLeft += kept.width;
      rowHeight = kept.height;
    }
    if (outLeft !== outWidth) throw new Error(`tiled VAE: tiles cover ${outLeft} of ${outWidth} output columns`);
    above = row;
    outTop += rowHeight;
  }
  if (!out || outTop !== outHeight) throw new Error(`tiled VAE: tiles cover ${outTop} of ${outHeight} output rows`);
  return { data: out, channels, height: outHeight, width: outWidth };
}
