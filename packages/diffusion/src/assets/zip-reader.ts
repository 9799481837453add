/**
 * A minimal ZIP reader for PyTorch's `.pt` archives (torch.save writes a zip of `data.pkl` and
 * one entry per storage, uncompressed). Reads the central directory, checks every offset and
 * size against the archive's real length, and inflates DEFLATE entries with node:zlib. ZIP64 is
 * refused: an embedding or a LoRA never needs 4 GB.
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { AssetError } from './asset-error.js';

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_FILE_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;
const STORED = 0;
const DEFLATED = 8;
/** Refuse to inflate an entry to more than this: a small compressed entry can claim any size. */
const MAX_INFLATED_BYTES = 1 << 30;

/** Reads every entry of a ZIP archive held in memory. Entry bytes of stored entries are views into `bytes`. */
export function readZip(bytes: Uint8Array, name?: string): Map<string, Uint8Array> {
  const fail = (message: string): never => {
    throw new AssetError('invalid_zip', message, name);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u32 = (at: number) =>
    at + 4 <= bytes.byteLength ? view.getUint32(at, true) : fail(`truncated at offset ${at}`);
  const u16 = (at: number) =>
    at + 2 <= bytes.byteLength ? view.getUint16(at, true) : fail(`truncated at offset ${at}`);

  // The end record is 22 bytes plus a comment of up to 65535 bytes, searched from the end.
  let end = -1;
  for (let at = bytes.byteLength - 22; at >= Math.max(0, bytes.byteLength - 22 - 0xffff); at--) {
    if (view.getUint32(at, true) === END_OF_CENTRAL_DIRECTORY) {
      end = at;
      break;
    }
  }
  if (end < 0) fail('no end-of-central-directory record (not a zip archive, or truncated)');
  const count = u16(end + 10);
  const directorySize = u32(end + 12);
  const directoryOffset = u32(end + 16);
  if (count === 0xffff || directoryOffset === 0xffffffff) fail('ZIP64 archives are not supported');
  if (directoryOffset + directorySize > end) fail('central directory lies outside the archive');

  const entries = new Map<string, Uint8Array>();
  let at = directoryOffset;
  for (let i = 0; i < count; i++) {
    if (u32(at) !== CENTRAL_FILE_HEADER) fail(`central directory entry ${i} has a bad signature`);
    const flags = u16(at + 8);
    const method = u16(at + 10);
    const checksum = u32(at + 16);
    const compressedSize = u32(at + 20);
    const size = u32(at + 24);
    const nameLength = u16(at + 28);
    const extraLength = u16(at + 30);
    const commentLength = u16(at + 32);
    const localOffset = u32(at + 42);
    if (at + 46 + nameLength > end) fail(`central directory entry ${i} runs past the directory`);
    const entryName = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extraLength + commentLength;
    if (flags & 1) fail(`entry ${entryName} is encrypted`);
    if (compressedSize === 0xffffffff || size === 0xffffffff || localOffset === 0xffffffff)
      fail('ZIP64 entries are not supported');
    if (u32(localOffset) !== LOCAL_FILE_HEADER) fail(`entry ${entryName} has no local header at ${localOffset}`);
    const dataStart = localOffset + 30 + u16(localOffset + 26) + u16(localOffset + 28);
    if (dataStart + compressedSize > bytes.byteLength) fail(`entry ${entryName} runs past the end of the archive`);
    const stored = bytes.subarray(dataStart, dataStart + compressedSize);
    let data: Uint8Array;
    if (method === STORED) {
      if (size !== compressedSize) fail(`stored entry ${entryName} has different sizes`);
      data = stored;
    } else if (method === DEFLATED) {
      if (size > MAX_INFLATED_BYTES) fail(`entry ${entryName} inflates to ${size} bytes, over the limit`);
      try {
        data = inflateRawSync(stored, { maxOutputLength: Math.max(size, 1) });
      } catch (err) {
        return fail(`entry ${entryName} does not inflate: ${(err as Error).message}`);
      }
      if (data.byteLength !== size) fail(`entry ${entryName} inflates to ${data.byteLength} bytes, not ${size}`);
    } else {
      return fail(`entry ${entryName} uses compression method ${method} (only stored and deflate are supported)`);
    }
    if (crc32(data) >>> 0 !== checksum) fail(`entry ${entryName} fails its CRC-32 check`);
    if (entries.has(entryName)) fail(`entry ${entryName} appears twice`);
    entries.set(entryName, data);
  }
  return entries;
}
