/**
 * Sessions of a model with some initializers replaced (merged LoRA weights, a longer token
 * embedding), without writing a patched model to disk.
 *
 * What onnxruntime-node 1.30 allows: `InferenceSession.create(bytes, options)` from an in-memory
 * model, plus `sessionOptions.externalData` ({path, data} buffers), but once that table is given
 * every external file must be in it (ORT: "External file: weights.pb not found from the table
 * user provided"), which would mean reading a 3.4 GB UNet into JS memory. So the patched
 * tensors go inline into the graph bytes, and the untouched external initializers keep pointing
 * at their files, found through the session config `session.model_external_initializers_file_folder_path`
 * (a model loaded from bytes otherwise resolves them against the working directory). Only the
 * graph and the patched tensors are in memory: well under protobuf's 2 GiB for SD1.5 LoRAs
 * (all attention and feed-forward weights of the UNet are ~1 GB in float32).
 */
import { dirname } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataLocation, encodeModel, PROTOBUF_SIZE_LIMIT } from '@kiln/onnx';
import type { ModelProto, TensorProto } from '@kiln/onnx';
import { ModelLoadError, OnnxModel, type SessionSettings, type ValueInfo } from './onnx-session.js';

/**
 * Loads `model` (read from `path` with `loadExternalData: false`) with `patches` replacing the
 * initializers of the same names. Without patches it is a plain `OnnxModel.load(path)`.
 */
export async function loadPatchedModel(
  path: string,
  model: ModelProto,
  patches: ReadonlyMap<string, TensorProto>,
  settings: SessionSettings = {},
): Promise<OnnxModel> {
  if (patches.size === 0) return OnnxModel.load(path, settings);
  const graph = model.graph ?? {};
  const initializers = graph.initializer ?? [];
  for (const name of patches.keys()) {
    if (!initializers.some((tensor) => tensor.name === name))
      throw new ModelLoadError(`patch for unknown initializer ${name}`, path);
  }
  const patched = initializers.map((tensor) => patches.get(tensor.name ?? '') ?? tensor);
  const bytes = encodeModel({ ...model, graph: { ...graph, initializer: patched } });
  if (bytes.byteLength > PROTOBUF_SIZE_LIMIT) {
    throw new ModelLoadError(
      `patched ${path} needs ${bytes.byteLength} bytes inline, over protobuf's 2 GiB limit`,
      path,
    );
  }
  const hasExternal = patched.some((tensor) => tensor.dataLocation === DataLocation.EXTERNAL);
  const options: ort.InferenceSession.SessionOptions = {
    executionProviders: providersFor(settings.executionProvider ?? 'cpu'),
    graphOptimizationLevel: settings.graphOptimizationLevel ?? 'all',
    enableCpuMemArena: settings.enableCpuMemArena ?? true,
    ...(settings.intraOpThreads ? { intraOpNumThreads: settings.intraOpThreads } : {}),
    ...(hasExternal ? { extra: { session: { model_external_initializers_file_folder_path: dirname(path) } } } : {}),
  };
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, options);
  } catch (err) {
    throw new ModelLoadError(`cannot load patched ONNX model ${path}: ${(err as Error).message}`, path);
  }
  return wrapSession(path, session, options.executionProviders?.[0] as string);
}

/**
 * `OnnxModel`'s constructor is private and onnx-session.ts (owned by the session-options work)
 * has no factory for a session created elsewhere yet, so this builds one the way `load` does.
 * The patched-model tests run real sessions through it, so a constructor change fails them.
 */
function wrapSession(path: string, session: ort.InferenceSession, executionProvider: string): OnnxModel {
  const construct = OnnxModel as unknown as new (
    path: string,
    session: ort.InferenceSession,
    inputs: Map<string, ValueInfo>,
    outputs: Map<string, ValueInfo>,
    executionProvider: string,
  ) => OnnxModel;
  return new construct(
    path,
    session,
    metadataOf(session.inputMetadata),
    metadataOf(session.outputMetadata),
    executionProvider,
  );
}

function metadataOf(meta: readonly ort.InferenceSession.ValueMetadata[]): Map<string, ValueInfo> {
  return new Map(
    meta.map((m) => [
      m.name,
      m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : { name: m.name, type: 'non-tensor', shape: [] },
    ]),
  );
}

/** The execution providers for a patched session: the first choice with CPU fallback, as `OnnxModel.load` tries. */
function providersFor(ep: NonNullable<SessionSettings['executionProvider']>): string[] {
  return ep === 'cpu' || ep === 'auto' ? (ep === 'auto' ? ['cuda', 'cpu'] : ['cpu']) : [ep, 'cpu'];
}
