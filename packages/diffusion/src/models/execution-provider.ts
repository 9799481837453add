/**
 * `KILN_EXECUTION_PROVIDER` (cpu | cuda | webgpu | auto) as onnxruntime session options, and what
 * to tell the operator when a provider cannot load. A provider asked for by name is used or the
 * load fails with an error naming what is missing: never a silent fall-back to the CPU (a GPU
 * fleet quietly rendering on CPUs is 50× slower and looks healthy). Only `auto` tries cuda, then
 * webgpu, then the CPU, and remembers the first that loaded for the process's later sessions.
 *
 * `cpu` is listed after a GPU provider in each attempt: onnxruntime then places the few operators
 * the GPU provider lacks on the CPU (per operator, inside one session), which is not a fall-back.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import nodePath from 'node:path';

export type ExecutionProvider = 'cpu' | 'cuda' | 'webgpu' | 'auto';
export type ConcreteProvider = Exclude<ExecutionProvider, 'auto'>;

/** A provider that was asked for and cannot run here; the message says what to install (docs/operations.md). */
export class ExecutionProviderError extends Error {
  override readonly name = 'ExecutionProviderError';
  constructor(
    message: string,
    readonly provider: ConcreteProvider,
  ) {
    super(message);
  }
}

let autoChoice: ConcreteProvider | undefined;

/** The providers to try, in order, each with the CPU for the operators it lacks. */
export function providerAttempts(ep: ExecutionProvider): ConcreteProvider[] {
  if (ep !== 'auto') return [ep];
  return autoChoice ? [autoChoice] : ['cuda', 'webgpu', 'cpu'];
}

export function sessionProviders(provider: ConcreteProvider): string[] {
  return provider === 'cpu' ? ['cpu'] : [provider, 'cpu'];
}

/**
 * The provider sessions run on under `ep`: `auto` resolved to the one that loaded, or still `auto`
 * until a session has loaded in this thread (the choice is per thread: the inference thread's).
 */
export function resolvedProvider(ep: ExecutionProvider): ExecutionProvider {
  return ep === 'auto' ? (autoChoice ?? 'auto') : ep;
}

/** Called when a session loaded with `provider` under `auto`: later sessions go straight to it. */
export function rememberAutoChoice(ep: ExecutionProvider, provider: ConcreteProvider): void {
  if (ep === 'auto') autoChoice = provider;
}

/** Where onnxruntime-node keeps its native libraries (the CUDA provider's belong there too). */
export function onnxRuntimeBinDir(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('onnxruntime-node/package.json');
    return nodePath.join(nodePath.dirname(pkg), 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return undefined;
  }
}

const PROVIDER_ERROR: Record<ConcreteProvider, RegExp> = {
  cpu: /$^/,
  cuda: /cuda|cudnn|cublas|providers_shared|backend not found/i,
  webgpu: /webgpu|vulkan|adapter|dawn|backend not found/i,
};

const CUDA_LIBRARIES = ['libonnxruntime_providers_cuda.so', 'libonnxruntime_providers_shared.so'];

/**
 * The error to report when loading a session with `provider` failed with `err`, or undefined when
 * the failure is not the provider's (a broken model file is reported as such by the caller).
 */
export function explainProviderFailure(provider: ConcreteProvider, err: unknown): ExecutionProviderError | undefined {
  const reason = err instanceof Error ? err.message : String(err);
  if (!PROVIDER_ERROR[provider].test(reason)) return undefined;
  const how = 'see docs/operations.md, "Execution providers"';
  if (provider === 'cuda') {
    const dir = onnxRuntimeBinDir();
    const missing = dir ? CUDA_LIBRARIES.filter((lib) => !existsSync(nodePath.join(dir, lib))) : CUDA_LIBRARIES;
    if (missing.length > 0) {
      return new ExecutionProviderError(
        `KILN_EXECUTION_PROVIDER=cuda: onnxruntime-node's CUDA provider is not installed (missing ${missing.join(', ')}` +
          `${dir ? ` in ${dir}` : ''}). Install it on a host with CUDA 12 and cuDNN 9 with ` +
          `ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install; ${how}. onnxruntime said: ${firstLine(reason)}`,
        provider,
      );
    }
    return new ExecutionProviderError(
      `KILN_EXECUTION_PROVIDER=cuda: the CUDA provider is installed but could not load: the CUDA 12 runtime ` +
        `(libcudart.so.12, libcublas.so.12), cuDNN 9 (libcudnn.so.9) or an NVIDIA driver is missing or not on ` +
        `LD_LIBRARY_PATH; ${how}. onnxruntime said: ${firstLine(reason)}`,
      provider,
    );
  }
  if (provider === 'webgpu') {
    return new ExecutionProviderError(
      `KILN_EXECUTION_PROVIDER=webgpu: no WebGPU adapter: onnxruntime's WebGPU provider runs on Vulkan here and ` +
        `needs the Vulkan loader (libvulkan.so.1, Debian package libvulkan1) and a Vulkan driver for the GPU ` +
        `(NVIDIA's driver, or mesa-vulkan-drivers); ${how}. onnxruntime said: ${firstLine(reason)}`,
      provider,
    );
  }
  return undefined;
}

function firstLine(text: string): string {
  return text.split('\n')[0].trim();
}
