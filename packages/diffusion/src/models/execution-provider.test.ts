/**
 * KILN_EXECUTION_PROVIDER against real onnxruntime-node sessions on this machine (no GPU, and
 * onnxruntime-node installed without its CUDA provider): cpu and auto load on the CPU; cuda and
 * webgpu fail with an error that names what is missing instead of quietly using the CPU.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExecutionProviderError, onnxRuntimeBinDir, providerAttempts, resolvedProvider } from './execution-provider.js';
import { ModelLoadError, OnnxModel } from './onnx-session.js';

const MODEL = path.resolve(import.meta.dirname, '../../../../test/fixtures/diffusers-tiny-sd15/vae_decoder/model.onnx');
const cudaInstalled = existsSync(path.join(onnxRuntimeBinDir() ?? '', 'libonnxruntime_providers_cuda.so'));

describe('execution providers', () => {
  it('cpu loads on the CPU', async () => {
    const model = await OnnxModel.load(MODEL, { executionProvider: 'cpu' });
    expect(model.executionProvider).toBe('cpu');
    await model.dispose();
  });

  it('auto falls back to the CPU when no GPU provider loads, and remembers its choice', async () => {
    expect(resolvedProvider('auto')).toBe('auto'); // nothing loaded under auto yet in this file
    const model = await OnnxModel.load(MODEL, { executionProvider: 'auto' });
    expect(model.executionProvider).toBe('cpu');
    await model.dispose();
    expect(providerAttempts('auto')).toEqual(['cpu']);
    expect(resolvedProvider('auto')).toBe('cpu');
    expect(resolvedProvider('webgpu')).toBe('webgpu');
  });

  it.skipIf(cudaInstalled)('cuda without its provider libraries names the missing files and the install step', async () => {
    const err = await OnnxModel.load(MODEL, { executionProvider: 'cuda' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutionProviderError);
    expect((err as ExecutionProviderError).provider).toBe('cuda');
    const message = (err as Error).message;
    expect(message).toContain('libonnxruntime_providers_cuda.so');
    expect(message).toContain('ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install');
    expect(message).toContain('Failed to load shared library'); // what onnxruntime itself said
  });

  it('webgpu without a GPU adapter names the Vulkan prerequisites', async () => {
    const err = await OnnxModel.load(MODEL, { executionProvider: 'webgpu' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecutionProviderError);
    expect((err as Error).message).toMatch(/no WebGPU adapter.*libvulkan\.so\.1/);
  });

  it('a broken model file is still reported as the model, not the provider', async () => {
    const err = await OnnxModel.load(path.join(import.meta.dirname, 'execution-provider.ts'), {
      executionProvider: 'cuda',
    }).catch((e: unknown) => e);
    // cuda fails first here: its provider error is what the operator must fix before anything else
    expect(err).toBeInstanceOf(cudaInstalled ? ModelLoadError : ExecutionProviderError);
    const cpuErr = await OnnxModel.load(path.join(import.meta.dirname, 'execution-provider.ts')).catch(
      (e: unknown) => e,
    );
    expect(cpuErr).toBeInstanceOf(ModelLoadError);
    expect(cpuErr).not.toBeInstanceOf(ExecutionProviderError);
  });
});
