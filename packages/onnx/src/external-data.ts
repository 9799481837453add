import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { DataLocation } from './onnx.types.js';
import type { StringStringEntry, TensorProto } from './onnx.types.js';

/** Where an externally stored tensor's bytes live, parsed from `TensorProto.external_data`. */
export interface ExternalDataLocation {
  /** Path relative to the model file's folder. */
  location: string;
  offset: number;
  /** Undefined means "to the end of the file" (onnx.proto). */
  length?: number;
}

/** True when the tensor's data is stored outside the model file. */
export function isExternal(tensor: TensorProto): boolean {
  return tensor.dataLocation === DataLocation.EXTERNAL;
}

/** Parses `external_data` key/value pairs (keys per onnx.proto: location, offset, length, checksum). */
export function externalDataLocation(tensor: TensorProto): ExternalDataLocation {
  const entries = new Map((tensor.externalData ?? []).map((entry) => [entry.key ?? '', entry.value ?? '']));
  const location = entries.get('location');
  if (!location) throw new Error(`initializer ${tensor.name ?? '?'} is external but has no location`);
  const offset = entries.has('offset') ? Number(entries.get('offset')) : 0;
  const length = entries.has('length') ? Number(entries.get('length')) : undefined;
  if (
    !Number.isSafeInteger(offset) ||
    offset < 0 ||
    (length !== undefined && (!Number.isSafeInteger(length) || length < 0))
  ) {
    throw new Error(`initializer ${tensor.name ?? '?'} has an invalid external offset/length`);
  }
  return { location, offset, length };
}

/**
 * Resolves an external data location against the model folder, refusing paths that leave it:
 * models can come from uploads, and a crafted `location` must not read arbitrary files.
 */
export function resolveExternalPath(modelPath: string, location: string): string {
  const folder = dirname(resolve(modelPath));
  const target = resolve(folder, location);
  const fromFolder = relative(folder, target);
  if (fromFolder === '' || fromFolder.startsWith('..') || isAbsolute(fromFolder)) {
    throw new Error(`external data location ${JSON.stringify(location)} is outside the model folder`);
  }
  return target;
}

/** The `external_data` entries for bytes written at `offset` in `location`. */
export function externalDataEntries(location: string, offset: number, length: number): StringStringEntry[] {
  return [
    { key: 'location', value: location },
    { key: 'offset', value: String(offset) },
    { key: 'length', value: String(length) },
  ];
}

/** Appends tensor bytes to one external data file (onnx's `all_tensors_to_one_file` layout). */
export class ExternalDataFile {
  private handle: FileHandle | undefined;
  private size = 0;

  private constructor(
    readonly path: string,
    readonly location: string,
  ) {}

  /** Creates (or truncates) the external data file `location` next to the model at `modelPath`. */
  static async create(modelPath: string, location: string): Promise<ExternalDataFile> {
    const file = new ExternalDataFile(resolveExternalPath(modelPath, location), location);
    file.handle = await open(file.path, 'w');
    return file;
  }

  /** Writes `bytes` at the end of the file and returns the tensor's external data entries. */
  async append(bytes: Uint8Array): Promise<StringStringEntry[]> {
    if (!this.handle) throw new Error(`external data file ${this.path} is closed`);
    const offset = this.size;
    let written = 0;
    while (written < bytes.byteLength) {
      const { bytesWritten } = await this.handle.write(bytes, written, bytes.byteLength - written, offset + written);
      written += bytesWritten;
    }
    this.size += bytes.byteLength;
    return externalDataEntries(this.location, offset, bytes.byteLength);
  }

  /** Bytes written so far. */
  get byteLength(): number {
    return this.size;
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}
