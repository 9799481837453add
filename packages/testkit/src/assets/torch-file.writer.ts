/**
 * Writes PyTorch `.pt` files the way `torch.save` does (a zip of `archive/data.pkl`, one
 * `archive/data/<key>` per storage and `archive/version`), for float32 tensors in dictionaries.
 * The pickle uses protocol 2 and exactly the globals torch emits.
 */
import { crc32 } from 'node:zlib';

/** A value to pickle: nested string-keyed dictionaries of tensors, strings and integers. */
export type TorchValue = string | number | { tensor: Float32Array; shape: number[] } | { [key: string]: TorchValue };

export function encodeTorchFile(root: Record<string, TorchValue>): Uint8Array {
  const storages: Float32Array[] = [];
  const program = new PickleProgram();
  program.byte(0x80, 2); // PROTO 2
  program.value(root, storages);
  program.byte(0x2e); // STOP
  const entries: Array<[string, Uint8Array]> = [
    ['archive/data.pkl', program.bytes()],
    ...storages.map((values, key): [string, Uint8Array] => [
      `archive/data/${key}`,
      new Uint8Array(values.buffer.slice(0)),
    ]),
    ['archive/version', new TextEncoder().encode('3\n')],
  ];
  return encodeStoredZip(entries);
}

class PickleProgram {
  private readonly parts: number[] = [];

  byte(...values: number[]): void {
    this.parts.push(...values);
  }

  text(value: string): void {
    const utf8 = new TextEncoder().encode(value);
    this.byte(0x58, ...u32(utf8.byteLength), ...utf8); // BINUNICODE
  }

  global(module: string, name: string): void {
    this.byte(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`)); // GLOBAL
  }

  int(value: number): void {
    this.byte(0x4a, ...u32(value)); // BININT
  }

  tuple(items: Array<() => void>): void {
    this.byte(0x28); // MARK
    for (const item of items) item();
    this.byte(0x74); // TUPLE
  }

  value(value: TorchValue, storages: Float32Array[]): void {
    if (typeof value === 'string') return this.text(value);
    if (typeof value === 'number') return this.int(value);
    if ('tensor' in value && value.tensor instanceof Float32Array)
      return this.tensor(value.tensor, value.shape as number[], storages);
    this.byte(0x7d, 0x28); // EMPTY_DICT, MARK
    for (const [key, item] of Object.entries(value as Record<string, TorchValue>)) {
      this.text(key);
      this.value(item, storages);
    }
    this.byte(0x75); // SETITEMS
  }

  /** torch._utils._rebuild_tensor_v2(storage, 0, shape, contiguous strides, False, OrderedDict()). */
  private tensor(values: Float32Array, shape: number[], storages: Float32Array[]): void {
    const key = String(storages.length);
    storages.push(values);
    const strides = shape.map((_, axis) => shape.slice(axis + 1).reduce((product, dim) => product * dim, 1));
    this.global('torch._utils', '_rebuild_tensor_v2');
    this.tuple([
      () => {
        this.tuple([
          () => this.text('storage'),
          () => this.global('torch', 'FloatStorage'),
          () => this.text(key),
          () => this.text('cpu'),
          () => this.int(values.length),
        ]);
        this.byte(0x51); // BINPERSID
      },
      () => this.int(0),
      () => this.tuple(shape.map((dim) => () => this.int(dim))),
      () => this.tuple(strides.map((stride) => () => this.int(stride))),
      () => this.byte(0x89), // NEWFALSE
      () => {
        this.global('collections', 'OrderedDict');
        this.byte(0x29, 0x52); // EMPTY_TUPLE, REDUCE
      },
    ]);
    this.byte(0x52); // REDUCE
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function u32(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff, (value >>> 16) & 0xff, (value >>> 24) & 0xff];
}

function u16(value: number): number[] {
  return [value & 0xff, (value >>> 8) & 0xff];
}

/** A zip archive of uncompressed entries (what torch's writer produces). */
export function encodeStoredZip(entries: Array<[string, Uint8Array]>): Uint8Array {
  const out: number[] = [];
  const central: number[] = [];
  const push = (target: number[], bytes: ArrayLike<number>) => {
    for (let i = 0; i < bytes.length; i++) target.push(bytes[i]);
  };
  for (const [name, data] of entries) {
    const nameBytes = new TextEncoder().encode(name);
    const checksum = crc32(data) >>> 0;
    const offset = out.length;
    const common = [
      ...u16(0),
      ...u16(0),
      ...u16(0),
      ...u16(0),
      ...u32(checksum),
      ...u32(data.byteLength),
      ...u32(data.byteLength),
    ];
    push(out, [...u32(0x04034b50), ...u16(20), ...common, ...u16(nameBytes.byteLength), ...u16(0)]);
    push(out, nameBytes);
    push(out, data);
    push(central, [
      ...u32(0x02014b50),
      ...u16(20),
      ...u16(20),
      ...common,
      ...u16(nameBytes.byteLength),
      ...u16(0),
      ...u16(0),
    ]);
    push(central, [...u16(0), ...u16(0), ...u32(0), ...u32(offset)]);
    push(central, nameBytes);
  }
  const directoryOffset = out.length;
  push(out, central);
  push(out, [...u32(0x06054b50), ...u16(0), ...u16(0), ...u16(entries.length), ...u16(entries.length)]);
  push(out, [...u32(central.length), ...u32(directoryOffset), ...u16(0)]);
  return Uint8Array.from(out);
}
