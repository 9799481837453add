/**
 * A pickle interpreter that executes nothing. A `.pt` file's `data.pkl` is a program for
 * Python's pickle machine, and `GLOBAL` + `REDUCE` can call any importable function
 * (`os.system` included). This interpreter knows only the opcodes torch.save emits and the
 * globals a saved tensor dictionary needs; any other global is refused when it is named,
 * before anything could call it, and calls exist only as the three constructors below.
 */
import { AssetError } from './asset-error.js';

/** A reference to a tensor storage inside the `.pt` archive (`data/<key>`). */
export interface StorageRef {
  kind: 'storage';
  /** Storage class name, e.g. `FloatStorage`. */
  storageType: string;
  key: string;
  numel: number;
}

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it: a strided view of a storage. */
export interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  shape: number[];
  stride: number[];
}

/** A Python value the interpreter can produce. Tuples and lists are both arrays; dicts are Maps. */
export type PickleValue =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleValue, PickleValue>
  | StorageRef
  | TensorRef
  | AllowedGlobal;

interface AllowedGlobal {
  kind: 'global';
  name: string;
}

/** Storage classes torch.save names for each dtype (`torch.FloatStorage` …); integer ones appear in A1111 files. */
export const STORAGE_TYPES = [
  'FloatStorage',
  'HalfStorage',
  'BFloat16Storage',
  'DoubleStorage',
  'LongStorage',
  'IntStorage',
];
const ALLOWED_GLOBALS = new Set([
  'torch._utils._rebuild_tensor_v2',
  'collections.OrderedDict',
  ...STORAGE_TYPES.map((type) => `torch.${type}`),
]);

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;
const MAX_MEMO = 1 << 20;

/** Runs a pickle program restricted to tensor dictionaries and returns the object it builds. */
export function unpickle(bytes: Uint8Array, name?: string): PickleValue {
  const fail = (message: string, code: 'invalid_pickle' | 'unsafe_pickle' = 'invalid_pickle'): never => {
    throw new AssetError(code, message, name);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const stack: StackItem[] = [];
  const memo = new Map<number, PickleValue>();
  let at = 0;

  const need = (count: number) => {
    if (count < 0 || at + count > bytes.byteLength) fail(`truncated: needs ${count} bytes at offset ${at}`);
  };
  const take = (count: number): Uint8Array => {
    need(count);
    const out = bytes.subarray(at, at + count);
    at += count;
    return out;
  };
  const u8 = () => take(1)[0];
  const u16 = () => (need(2), (at += 2), view.getUint16(at - 2, true));
  const u32 = () => (need(4), (at += 4), view.getUint32(at - 4, true));
  const i32 = () => (need(4), (at += 4), view.getInt32(at - 4, true));
  const utf8 = (raw: Uint8Array) => new TextDecoder('utf-8', { fatal: true }).decode(raw);
  const line = (): string => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) fail('truncated: unterminated text argument');
    const text = new TextDecoder('latin1').decode(bytes.subarray(at, end));
    at = end + 1;
    return text;
  };
  const pop = (): PickleValue => {
    const item = stack.pop();
    if (item === undefined || item === MARK) return fail(`stack underflow at offset ${at}`);
    return item;
  };
  const popMark = (): PickleValue[] => {
    const index = stack.lastIndexOf(MARK);
    if (index < 0) fail(`no MARK on the stack at offset ${at}`);
    const items = stack.splice(index) as PickleValue[];
    items.shift();
    return items;
  };
  const top = (): PickleValue => {
    const item = stack[stack.length - 1];
    if (item === undefined || item === MARK) return fail(`stack underflow at offset ${at}`);
    return item;
  };
  const resolveGlobal = (module: string, qualifiedName: string): AllowedGlobal => {
    const full = `${module}.${qualifiedName}`;
    if (!ALLOWED_GLOBALS.has(full)) {
      fail(
        `refuses global ${full}: only tensor storages, _rebuild_tensor_v2 and OrderedDict may appear in an embedding`,
        'unsafe_pickle',
      );
    }
    return { kind: 'global', name: full };
  };
  const setItems = (target: PickleValue, items: PickleValue[]) => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) (target as Map<PickleValue, PickleValue>).set(items[i], items[i + 1]);
  };
  const putMemo = (index: number) => {
    if (memo.size >= MAX_MEMO) fail('memo grows past its limit');
    memo.set(index, top());
  };
  const getMemo = (index: number) => {
    if (!memo.has(index)) fail(`memo entry ${index} is read before it is written`);
    stack.push(memo.get(index) as PickleValue);
  };

  for (;;) {
    const opcode = u8();
    switch (opcode) {
      case 0x80: // PROTO
        if (u8() > 5) fail('pickle protocol above 5');
        break;
      case 0x95: // FRAME: a length hint only
        take(8);
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const dict = new Map<PickleValue, PickleValue>();
        setItems(dict, popMark());
        stack.push(dict);
        break;
      }
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x61: {
        // APPEND
        const item = pop();
        const list = top();
        if (!Array.isArray(list)) fail('APPEND to something that is not a list');
        (list as PickleValue[]).push(item);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail('APPENDS to something that is not a list');
        (list as PickleValue[]).push(...items);
        break;
      }
      case 0x73: {
        // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: // SETITEMS
        {
          const items = popMark();
          setItems(top(), items);
        }
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(readLong(take(u8()), fail));
        break;
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8(take(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(new TextDecoder('latin1').decode(take(u32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(new TextDecoder('latin1').decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()));
        break;
      case 0x71: // BINPUT
        putMemo(u8());
        break;
      case 0x72: // LONG_BINPUT
        putMemo(u32());
        break;
      case 0x94: // MEMOIZE
        putMemo(memo.size);
        break;
      case 0x68: // BINGET
        getMemo(u8());
        break;
      case 0x6a: // LONG_BINGET
        getMemo(u32());
        break;
      case 0x30: // POP
        stack.pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x63: {
        // GLOBAL "module\nname\n": checked here, before any REDUCE could call it.
        const module = line();
        stack.push(resolveGlobal(module, line()));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const qualifiedName = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof qualifiedName !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module as string, qualifiedName as string));
        break;
      }
      case 0x51: // BINPERSID: torch's storage references
        stack.push(persistentLoad(pop(), fail));
        break;
      case 0x52: {
        // REDUCE: callable(*args), only for the allowed constructors.
        const args = pop();
        const callable = pop();
        stack.push(reduce(callable, args, fail));
        break;
      }
      case 0x69: // INST
        return fail(
          `refuses INST ${JSON.stringify(`${line()}.${line()}`)}: instantiating classes is not allowed`,
          'unsafe_pickle',
        );
      case 0x6f: // OBJ
      case 0x81: // NEWOBJ
      case 0x92: // NEWOBJ_EX
      case 0x62: // BUILD
        return fail(`refuses opcode 0x${opcode.toString(16)}: building objects is not allowed`, 'unsafe_pickle');
      default:
        return fail(`unsupported pickle opcode 0x${opcode.toString(16)} at offset ${at - 1}`);
    }
  }
}

function readLong(raw: Uint8Array, fail: (message: string) => never): number {
  if (raw.byteLength > 7) fail(`integer of ${raw.byteLength} bytes is too large`);
  let value = 0;
  for (let i = raw.byteLength - 1; i >= 0; i--) value = value * 256 + raw[i];
  // Two's complement: the top bit of the last byte is the sign.
  if (raw.byteLength > 0 && raw[raw.byteLength - 1] & 0x80) value -= 2 ** (8 * raw.byteLength);
  return value;
}

/** torch.save's persistent id: `('storage', storage_type, key, location, numel)`. */
function persistentLoad(pid: PickleValue, fail: (message: string) => never): StorageRef {
  if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage')
    return fail('persistent id is not a torch storage reference');
  const [, type, key, , numel] = pid;
  const storageType = isGlobal(type) ? type.name.replace(/^torch\./, '') : undefined;
  if (!storageType || !STORAGE_TYPES.includes(storageType))
    return fail('storage reference does not name a storage type');
  if (typeof key !== 'string' || !/^\w+$/.test(key)) return fail('storage key is not a plain name');
  if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0)
    return fail('storage size is not a count');
  return { kind: 'storage', storageType, key, numel };
}

function reduce(callable: PickleValue, args: PickleValue, fail: (message: string) => never): PickleValue {
  if (!isGlobal(callable)) return fail('REDUCE target is not an allowed global');
  if (!Array.isArray(args)) return fail(`REDUCE of ${callable.name} without an argument tuple`);
  if (callable.name === 'collections.OrderedDict') {
    if (args.length !== 0) return fail('OrderedDict is only built empty');
    return new Map();
  }
  if (callable.name === 'torch._utils._rebuild_tensor_v2') {
    const [storage, offset, shape, stride] = args;
    const isCounts = (v: PickleValue) =>
      Array.isArray(v) && v.every((n) => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0);
    if (!storage || typeof storage !== 'object' || !('kind' in storage) || storage.kind !== 'storage') {
      return fail('_rebuild_tensor_v2 without a storage');
    }
    if (
      typeof offset !== 'number' ||
      !Number.isSafeInteger(offset) ||
      offset < 0 ||
      !isCounts(shape) ||
      !isCounts(stride)
    ) {
      return fail('_rebuild_tensor_v2 with a malformed offset, size or stride');
    }
    return { kind: 'tensor', storage, offset, shape: shape as number[], stride: stride as number[] };
  }
  return fail(`refuses to call ${callable.name}`);
}

function isGlobal(value: PickleValue): value is AllowedGlobal {
  return typeof value === 'object' && value !== null && 'kind' in value && value.kind === 'global';
}
