/**
 * Kiln's own graph rewrites, applied to a model file before onnxruntime's optimizer sees it
 * (docs/benchmarks.md, "Graph fusions"). Today: attention → MultiHeadAttention. The rewritten graph
 * goes to onnxruntime as bytes; its external weights are still read from the model's folder.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { encodeModel, readModel } from '@kiln/onnx';
import { fuseAttention } from './attention-fusion.js';

/** Bumped whenever a rewrite changes: part of the optimized-model cache key. */
export const FUSIONS_VERSION = 'kiln-fusions-1';

/**
 * Graph files larger than this hold their weights inline (a CLIP text encoder, a VAE): decoding
 * and re-encoding them costs seconds for at most one attention, so they load as they are. UNets
 * and ControlNets keep their weights in external files and have a graph of a few megabytes.
 */
const MAX_REWRITTEN_GRAPH_BYTES = 64 * 2 ** 20;

export interface PreparedModel {
  /** The rewritten model's bytes. */
  bytes: Uint8Array;
  /** Session config entries for reading its external weights from the source's folder. */
  extra: { session: Record<string, string> };
  /** Attention subgraphs replaced. */
  attention: number;
}

/** The model rewritten by Kiln's fusions, or undefined when none applies (load the file as it is). */
export async function prepareModel(file: string): Promise<PreparedModel | undefined> {
  if ((await stat(file)).size > MAX_REWRITTEN_GRAPH_BYTES) return undefined;
  const model = await readModel(file, { loadExternalData: false });
  const { fused } = fuseAttention(model);
  if (fused === 0) return undefined;
  return {
    bytes: encodeModel(model),
    extra: { session: { model_external_initializers_file_folder_path: path.dirname(path.resolve(file)) } },
    attention: fused,
  };
}
