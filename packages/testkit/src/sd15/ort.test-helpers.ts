import * as ort from 'onnxruntime-node';
import { float16ToFloat32, float32ToFloat16 } from '@kiln/onnx';
import { uniformValues } from '../prng.js';

/** Session options for tests: the 2-core CI budget. */
export const SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  intraOpNumThreads: 2,
  interOpNumThreads: 1,
  logSeverityLevel: 3,
};

export function openSession(path: string): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(path, SESSION_OPTIONS);
}

/** A float tensor of the given precision from float values. */
export function floatTensor(type: 'float32' | 'float16', values: ArrayLike<number>, dims: number[]): ort.Tensor {
  return type === 'float16'
    ? new ort.Tensor('float16', float32ToFloat16(values), dims)
    : new ort.Tensor('float32', Float32Array.from(values), dims);
}

/** Deterministic test input in [-scale·√3, scale·√3]. */
export function randomTensor(type: 'float32' | 'float16', dims: number[], key: string, scale = 1): ort.Tensor {
  const count = dims.reduce((a, b) => a * b, 1);
  return floatTensor(type, uniformValues(1234, key, count, scale), dims);
}

/** A float tensor's values as float32. */
export function values(tensor: ort.Tensor): Float32Array {
  if (tensor.type === 'float16') return float16ToFloat32(tensor.data as Uint16Array);
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  throw new Error(`not a float tensor: ${tensor.type}`);
}

/** Mean, standard deviation and count of non-finite values. */
export function summary(data: ArrayLike<number>): { mean: number; std: number; nonFinite: number } {
  let sum = 0;
  let squares = 0;
  let nonFinite = 0;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) nonFinite++;
    sum += data[i];
    squares += data[i] * data[i];
  }
  const mean = sum / data.length;
  return { mean, std: Math.sqrt(Math.max(0, squares / data.length - mean * mean)), nonFinite };
}

/** Largest absolute elementwise difference. */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** CLIP-style ids: BOS, some tokens, EOS, then EOS padding (SD pads with <|endoftext|>). */
export function promptIds(batch: number, sequence: number, tokenCounts: number[]): Int32Array {
  const ids = new Int32Array(batch * sequence).fill(49407);
  for (let b = 0; b < batch; b++) {
    ids[b * sequence] = 49406;
    for (let t = 1; t <= tokenCounts[b]; t++) ids[b * sequence + t] = 300 + ((b * 131 + t * 17) % 40000);
  }
  return ids;
}

/** Input/output metadata as [name, type] pairs. */
export function signature(session: ort.InferenceSession): { inputs: [string, string][]; outputs: [string, string][] } {
  const pairs = (metadata: readonly ort.InferenceSession.ValueMetadata[]) =>
    metadata.map((m): [string, string] => [m.name, m.isTensor ? m.type : 'non-tensor']);
  return { inputs: pairs(session.inputMetadata), outputs: pairs(session.outputMetadata) };
}
