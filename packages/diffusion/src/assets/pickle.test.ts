/**
 * The restricted interpreter reads what CPython's own pickler writes for a torch-style tensor
 * dictionary, at protocol 2 (torch.save's default) and protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL).
 * The fixtures were produced with CPython 3's `pickle.Pickler` and stand-in `torch` modules:
 * a `[2, 3]` tensor viewing a 6-element FloatStorage with strides [1, 2] (a transposed view).
 */
import { describe, expect, it } from 'vitest';
import { encodeStoredZip } from '@kiln/testkit';
import { unpickle } from './pickle.js';
import { readTorchFile } from './torch-file.js';

const PROTOCOL_2 =
  '80027d710028580f000000737472696e675f746f5f706172616d71017d710258010000002a710363746f7263682e5f7574696c730a5f' +
  '72656275696c645f74656e736f725f76320a71042828580700000073746f72616765710563746f7263680a466c6f617453746f726167' +
  '650a71065801000000307107580300000063707571084b06747109514b004b024b0386710a4b014b0286710b8963636f6c6c65637469' +
  '6f6e730a4f726465726564446963740a710c2952710d74710e52710f7358040000006e616d657110580100000078711158040000007374' +
  '657071124b07580300000062696771138a060000000000015801000000667114473fe0000000000000752e';
const PROTOCOL_4 =
  '800495db000000000000007d94288c0f737472696e675f746f5f706172616d947d948c012a948c0c746f7263682e5f7574696c73948c' +
  '125f72656275696c645f74656e736f725f763294939428288c0773746f72616765948c05746f726368948c0c466c6f617453746f7261' +
  '67659493948c0130948c03637075944b067494514b004b024b0386944b014b028694898c0b636f6c6c656374696f6e73948c0b4f7264' +
  '657265644469637494939429529474945294738c046e616d65948c0178948c0473746570944b078c03626967948a060000000000018c' +
  '016694473fe0000000000000752e';

const hex = (text: string) => Uint8Array.from(text.match(/../g)!.map((byte) => parseInt(byte, 16)));

describe('unpickle', () => {
  for (const [protocol, bytes] of [
    [2, PROTOCOL_2],
    [4, PROTOCOL_4],
  ] as const) {
    it(`reads CPython's protocol ${protocol} output`, () => {
      const root = unpickle(hex(bytes)) as Map<string, unknown>;
      expect(root.get('name')).toBe('x');
      expect(root.get('step')).toBe(7);
      expect(root.get('big')).toBe(2 ** 40);
      expect(root.get('f')).toBe(0.5);
      expect((root.get('string_to_param') as Map<string, unknown>).get('*')).toEqual({
        kind: 'tensor',
        storage: { kind: 'storage', storageType: 'FloatStorage', key: '0', numel: 6 },
        offset: 0,
        shape: [2, 3],
        stride: [1, 2],
      });
    });
  }

  it('reads a strided tensor view in logical order', () => {
    const storage = new Uint8Array(Float32Array.of(0, 1, 2, 3, 4, 5).buffer);
    const file = readTorchFile(
      encodeStoredZip([
        ['archive/data.pkl', hex(PROTOCOL_2)],
        ['archive/data/0', storage],
      ]),
    );
    const ref = ((file.root as Map<string, unknown>).get('string_to_param') as Map<string, unknown>).get('*');
    // Element [i, j] is storage[i + 2j]: rows [0, 2, 4] and [1, 3, 5].
    expect(file.tensor(ref as Parameters<typeof file.tensor>[0])).toEqual({
      dtype: 'F32',
      shape: [2, 3],
      values: Float32Array.of(0, 2, 4, 1, 3, 5),
    });
  });
});
