/**
 * Rewrites a testkit model the way optimum's ONNX export differs from diffusers' script:
 * `input_ids` is int64, and the UNet's weights live in `model.onnx_data`.
 */
import { cp, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readModel, writeModel } from '@kiln/onnx';

const INT64 = 7;

export async function writeOptimumStyleModel(source: string, target: string): Promise<string> {
  if (existsSync(path.join(target, 'model_index.json'))) return target;
  const staging = `${target}.${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await cp(source, staging, { recursive: true });

  const text = await readModel(path.join(source, 'text_encoder', 'model.onnx'));
  const graph = text.graph!;
  for (const node of graph.node ?? []) {
    node.input = (node.input ?? []).map((name: string) => (name === 'input_ids' ? 'input_ids_int32' : name));
  }
  graph.node = [
    {
      opType: 'Cast',
      input: ['input_ids'],
      output: ['input_ids_int32'],
      name: 'optimum_cast',
      attribute: [{ name: 'to', type: 2, i: 6 }],
    },
    ...(graph.node ?? []),
  ];
  const input = graph.input!.find((i: { name?: string }) => i.name === 'input_ids')!;
  input.type!.tensorType!.elemType = INT64;
  await writeModel(path.join(staging, 'text_encoder', 'model.onnx'), text);

  const unet = await readModel(path.join(source, 'unet', 'model.onnx'));
  await rm(path.join(staging, 'unet'), { recursive: true });
  await mkdir(path.join(staging, 'unet'));
  await writeModel(path.join(staging, 'unet', 'model.onnx'), unet, { externalData: { location: 'model.onnx_data' } });
  await rm(target, { recursive: true, force: true });
  await cp(staging, target, { recursive: true });
  await rm(staging, { recursive: true, force: true });
  return target;
}
