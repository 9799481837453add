/**
 * A job's input images, read back from storage: the API stored the client's `init_image` and
 * `mask_image` bytes before queueing and the job carries their keys. The bytes are decoded on the
 * inference thread, which names the field when an image cannot be used.
 */
import { JOB_IMAGE_FIELDS, type JobInputs } from '@kiln/contracts';
import { RenderInputError } from '@kiln/diffusion';
import { InvalidKeyError, type BlobStore } from '@kiln/storage';
import type { InputImages } from './render-params.js';

async function readInput(store: BlobStore, field: string, key: string): Promise<Uint8Array> {
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
    throw new RenderInputError(
      'input_rejected',
      `${field} is no longer in storage (retention ended); submit the request again`,
      field,
    );
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export async function readInputImages(store: BlobStore, inputs: JobInputs): Promise<InputImages> {
  const images: InputImages = {};
  for (const field of JOB_IMAGE_FIELDS) {
    const key = inputs[field];
    if (key !== undefined) images[field] = await readInput(store, field, key);
  }
  if (inputs.controlnet_images) {
    const keys = inputs.controlnet_images;
    images.controlnet_images = [];
    for (const [i, key] of keys.entries()) {
      const field = keys.length > 1 ? `controlnet_image.${i}` : 'controlnet_image';
      images.controlnet_images.push(await readInput(store, field, key));
    }
  }
  return images;
}
