/**
 * Sessions of a model with some initializers replaced (merged LoRA weights, a longer token
 * embedding), without writing a patched model to disk.
 *
 * What onnxruntime-node 1.30 allows: `InferenceSession.create(bytes, options)` from an in-memory
 * model, and `sessionOptions.externalData` ({path, data} buffers); but once that table is given
 * every external file must be in it (ORT: "External file: weights.pb not found from the table
 * user provided"), which means reading a 3.4 GB UNet into JS memory. So by default the patched
 * tensors go inline into the graph bytes and the untouched external initializers keep pointing at
 * their files, found through the session config `session.model_external_initializers_file_folder_path`
 * (a model loaded from bytes otherwise resolves them against the working directory). Only the
 * graph and the patched tensors are then in memory: an SD1.5 LoRA over every attention and
 * feed-forward weight of the UNet patches ~1 GB in float32. Only when the inline bytes would pass
 * protobuf's 2 GiB (a LoCon touching most of the UNet) does everything go through the in-memory
 * table, the model's own external files included.
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataLocation, encodeModel, externalDataLocation, PROTOBUF_SIZE_LIMIT, resolveExternalPath } from '@kiln/onnx';
import { moveToExternalTable } from './external-table.js';
import type { ModelProto, TensorProto } from '@kiln/onnx';
import { explainProviderFailure, providerAttempts, rememberAutoChoice, sessionProviders } from './execution-provider.js';
import { ModelLoadError, OnnxModel, type SessionSettings, type ValueInfo } from './onnx-session.js';
import { fuseAttention } from './optimize/attention-fusion.js';
import { mergeExtra, threadOptions } from './session-threads.js';

/** Room left for the graph itself when deciding whether patched tensors fit inline. */
const GRAPH_MARGIN_BYTES = 64 * 2 ** 20;

export interface PatchedModelOptions {
  /** Patched tensors go inline while the graph's inline bytes stay under this (default: protobuf's limit less a margin). */
  inlineLimitBytes?: number;
}

/**
 * Loads `model` (read from `path` with `loadExternalData: false`) with `patches` replacing the
 * initializers of the same names. Without patches it is a plain `OnnxModel.load(path)`.
 */
export async function loadPatchedModel(
  path: string,
  model: ModelProto,
  patches: ReadonlyMap<string, TensorProto>,
  settings: SessionSettings = {},
  options: PatchedModelOptions = {},
): Promise<OnnxModel> {
  if (patches.size === 0) return OnnxModel.load(path, settings);
  const graph = model.graph ?? {};
  const initializers = graph.initializer ?? [];
  for (const name of patches.keys()) {
    if (!initializers.some((tensor) => tensor.name === name)) {
      throw new ModelLoadError(`patch for unknown initializer ${name}`, path);
    }
  }
  const patched = initializers.map((tensor) => patches.get(tensor.name ?? '') ?? tensor);
  const inlineBytes = patched.reduce((sum, tensor) => sum + (tensor.rawData?.byteLength ?? 0), 0);
  const limit = options.inlineLimitBytes ?? PROTOBUF_SIZE_LIMIT - GRAPH_MARGIN_BYTES;
  const { tensors, sessionExtra } =
    inlineBytes <= limit
      ? { tensors: patched, sessionExtra: externalFolder(path, patched) }
      : await allInMemory(path, patched);
  const patchedModel: ModelProto = {
    ...model,
    opsetImport: [...(model.opsetImport ?? [])],
    graph: { ...graph, initializer: tensors },
  };
  // The same graph fusions as an unpatched CPU session (optimize/prepare-model.ts).
  if ((settings.executionProvider ?? 'cpu') === 'cpu' && (settings.graphFusions ?? true)) fuseAttention(patchedModel);
  const bytes = encodeModel(patchedModel);
  const threads = threadOptions(settings);

  let lastError: unknown;
  const ep = settings.executionProvider ?? 'cpu';
  for (const provider of providerAttempts(ep)) {
    const executionProviders = sessionProviders(provider);
    try {
      const session = await ort.InferenceSession.create(bytes, {
        executionProviders,
        graphOptimizationLevel: settings.graphOptimizationLevel ?? 'all',
        enableCpuMemArena: settings.enableCpuMemArena ?? true,
        intraOpNumThreads: threads.intraOpNumThreads,
        ...sessionExtra,
        ...withExtra(mergeExtra(threads.extra, 'extra' in sessionExtra ? sessionExtra.extra : undefined)),
      });
      rememberAutoChoice(ep, provider);
      return wrapSession(path, session, provider);
    } catch (err) {
      // The same rule as OnnxModel.load: a provider asked for by name fails loudly.
      const providerError = explainProviderFailure(provider, err);
      if (providerError && ep !== 'auto') throw providerError;
      lastError = err;
    }
  }
  const reason = lastError instanceof Error ? lastError.message : String(lastError);
  throw new ModelLoadError(`cannot load patched ONNX model ${path}: ${reason}`, path);
}

type SessionExtra = Pick<ort.InferenceSession.SessionOptions, 'extra' | 'externalData'>;

/** `extra` only when there is one: onnxruntime-node refuses an `extra` key holding undefined. */
const withExtra = (extra: Record<string, unknown> | undefined) => (extra ? { extra } : {});

/** Untouched external initializers are read from the model's folder, as when loading from its path. */
function externalFolder(path: string, tensors: readonly TensorProto[]): SessionExtra {
  if (!tensors.some((tensor) => tensor.dataLocation === DataLocation.EXTERNAL)) return {};
  return { extra: { session: { model_external_initializers_file_folder_path: dirname(path) } } };
}

/**
 * Every initializer outside the graph bytes, through ORT's in-memory table: each patched tensor as
 * a file of its own, and the model's external files read whole (each must fit one Node buffer).
 */
async function allInMemory(path: string, tensors: readonly TensorProto[]) {
  const { moved, externalData } = moveToExternalTable(
    tensors,
    'kiln-patched',
    (_, tensor) => tensor.dataLocation !== DataLocation.EXTERNAL,
  );
  const files = new Set(
    tensors
      .filter((tensor) => tensor.dataLocation === DataLocation.EXTERNAL)
      .map((t) => externalDataLocation(t).location),
  );
  for (const location of files) {
    externalData.push({ path: location, data: await readFile(resolveExternalPath(path, location)) });
  }
  return { tensors: moved, sessionExtra: { externalData } satisfies SessionExtra };
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
