/**
 * A job's input images and their settings, as the inference thread takes them. The API stored the
 * client's `init_image`/`mask_image` bytes before queueing and the job carries their storage keys;
 * the bytes are read back here and decoded on the inference thread (which names the field when an
 * image cannot be used).
 */
import type { KilnConfig } from '@kiln/config';
import type { Sd15Request } from '@kiln/contracts';
import { RenderInputError, type Sd15RenderParams } from '@kiln/diffusion';
import type { RenderJobData } from '@kiln/queue';
import { InvalidKeyError, type FileStore } from '@kiln/storage';

const IMAGE_FIELDS = ['init_image', 'mask_image'] as const;

async function readInput(store: FileStore, field: string, key: string): Promise<Uint8Array> {
  let bytes: Buffer | undefined;
  try {
    bytes = await store.get(key);
  } catch (err) {
    if (err instanceof InvalidKeyError) {
      throw new RenderInputError('input_rejected', `${field} does not refer to a stored input image`, field);
    }
    throw err; // an I/O failure: the job is retried
  }
  if (!bytes) {
    throw new RenderInputError('input_rejected', `${field} is no longer in storage (retention ended); submit the request again`, field);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The image-editing part of the render parameters; empty for a text-to-image request. */
export async function imageEditingParams(
  store: FileStore,
  data: RenderJobData,
  request: Sd15Request,
  config: Readonly<KilnConfig>,
): Promise<Partial<Sd15RenderParams>> {
  const images: Record<string, Uint8Array> = {};
  for (const field of IMAGE_FIELDS) {
    const key = data.inputs[field] ?? request[field];
    if (typeof key === 'string') images[field] = await readInput(store, field, key);
  }
  if (!images.init_image && !images.mask_image) return {};
  return {
    initImage: images.init_image,
    maskImage: images.mask_image,
    strength: request.strength,
    outpainting: request.outpainting,
    maskBlur: request.mask_blur,
    fullRes: request.inpaint_full_res,
    fullResPadding: request.inpaint_full_res_padding,
    pasteOriginal: request.inpaint_paste_original,
    imageLimits: { maxPixels: config.maxImagePixels, maxBytes: config.maxBodyBytes },
  };
}
