/**
 * Kiln's own graph rewrites, applied to a model file before onnxruntime's optimizer sees it
 * (docs/benchmarks.md, "Graph fusions"): an fp16 graph widened to float32 inside
 * (widen-float16.ts), then attention → MultiHeadAttention (attention-fusion.ts). The rewritten
 * graph goes to onnxruntime as bytes; untouched external weights are still read from the model's
 * folder, widened ones are handed over from memory.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type * as ort from 'onnxruntime-node';
import { encodeModel, readModel, type TensorProto } from '@kiln/onnx';
import { moveToExternalTable } from '../external-table.js';
import { fuseAttention } from './attention-fusion.js';
import { hasFloat16Weights, widenFloat16 } from './widen-float16.js';

/** Bumped whenever a rewrite changes: part of the optimized-model cache key. */
export const FUSIONS_VERSION = 'kiln-fusions-3';

/**
 * Graph files larger than this hold their weights inline (a CLIP text encoder, a VAE): decoding
 * and re-encoding them costs seconds for at most one attention, so they load as they are. UNets
 * and ControlNets keep their weights in external files and have a graph of a few megabytes.
 */
const MAX_REWRITTEN_GRAPH_BYTES = 64 * 2 ** 20;
/** Widened tensors larger than this go to onnxruntime's in-memory external data, not the graph bytes. */
const INLINE_TENSOR_BYTES = 1024;

export interface PreparedModel {
  /** The rewritten model's bytes. */
  bytes: Uint8Array;
  /** Session options that find its weights: the source folder, or the in-memory table. */
  options: Pick<ort.InferenceSession.SessionOptions, 'extra' | 'externalData'>;
  /** Attention subgraphs replaced. */
  attention: number;
  /** Attention left unfused (Softmax nodes the fusion did not match). */
  unfusedAttention: number;
  /** float16 initializers widened to float32. */
  widened: number;
}

/**
 * Every initializer's bytes out of the graph into onnxruntime's in-memory table (once that table
 * is given, onnxruntime reads no external file: all of them must be in it).
 */
function toMemoryTable(tensors: TensorProto[]) {
  return moveToExternalTable(tensors, 'kiln-widened', (rawData) => rawData.byteLength > INLINE_TENSOR_BYTES);
}

/** The model rewritten by Kiln's passes, or undefined when none applies (load the file as it is). */
export async function prepareModel(file: string): Promise<PreparedModel | undefined> {
  if ((await stat(file)).size > MAX_REWRITTEN_GRAPH_BYTES) return undefined;
  let model = await readModel(file, { loadExternalData: false });
  let widened = 0;
  if (hasFloat16Weights(model)) {
    model = await readModel(file);
    widened = widenFloat16(model);
  }
  const { fused, unfused } = fuseAttention(model);
  if (fused === 0 && widened === 0) return undefined;
  if (widened > 0 && model.graph) {
    const { moved, externalData } = toMemoryTable(model.graph.initializer ?? []);
    model.graph.initializer = moved;
    return { bytes: encodeModel(model), options: { externalData }, attention: fused, unfusedAttention: unfused, widened };
  }
  return {
    bytes: encodeModel(model),
    options: { extra: { session: { model_external_initializers_file_folder_path: path.dirname(path.resolve(file)) } } },
    attention: fused,
    unfusedAttention: unfused,
    widened,
  };
}
