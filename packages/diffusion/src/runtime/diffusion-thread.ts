/**
 * Host side of the inference thread: one thread per worker process, one render at a time
 * (a GPU, or the CPU's cores, are used fully by one render).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { RenderAbortedError, RenderInputError } from '../errors.js';
import type { RenderProgress, RenderResult } from '../pipelines/sd15/render-types.js';
import type { RendererOptions, RenderRequest } from './renderer.js';
import type { HostMessage, SerializedError, ThreadInit, ThreadMessage } from './thread-protocol.js';

interface Pending {
  resolve: (r: RenderResult | undefined) => void;
  reject: (e: Error) => void;
  onProgress?: (p: RenderProgress) => void;
}

/** The compiled thread entry; when running from TypeScript sources (tests), the build output next to them. */
function threadEntry(): URL {
  const sibling = new URL('./render-thread.js', import.meta.url);
  if (existsSync(fileURLToPath(sibling))) return sibling;
  return new URL('../../dist/runtime/render-thread.js', import.meta.url);
}

function revive(error: SerializedError): Error {
  if (error.name === 'RenderInputError') {
    return new RenderInputError((error.code ?? 'input_rejected') as RenderInputError['code'], error.message, error.field);
  }
  if (error.name === 'RenderAbortedError') return new RenderAbortedError();
  const revived = new Error(error.message);
  revived.name = error.name;
  return revived;
}

export class DiffusionThread {
  private worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closed = false;

  constructor(private readonly options: RendererOptions = {}) {
    this.worker = this.spawn();
  }

  private spawn(): Worker {
    const init: ThreadInit = { options: this.options };
    const worker = new Worker(threadEntry(), { workerData: init });
    worker.on('message', (m: ThreadMessage) => this.onMessage(m));
    worker.on('error', (err) => this.failAll(err));
    worker.on('exit', (code) => {
      if (this.closed) return;
      this.failAll(new Error(`inference thread exited with code ${code}`));
      this.worker = this.spawn();
    });
    return worker;
  }

  private onMessage(m: ThreadMessage): void {
    const entry = this.pending.get(m.id);
    if (!entry) return;
    if (m.type === 'progress') {
      entry.onProgress?.(m.progress);
      return;
    }
    this.pending.delete(m.id);
    if (m.type === 'done') entry.resolve(m.result);
    else entry.reject(revive(m.error));
  }

  private failAll(err: Error): void {
    for (const entry of this.pending.values()) entry.reject(err);
    this.pending.clear();
  }

  private send(message: HostMessage, pending: Pending): void {
    this.pending.set(message.id, pending);
    this.worker.postMessage(message);
  }

  warm(modelDir: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.send({ type: 'warm', id: this.nextId++, modelDir }, { resolve: () => resolve(), reject }),
    );
  }

  render(
    request: RenderRequest,
    hooks: { signal?: AbortSignal; onProgress?: (p: RenderProgress) => void } = {},
  ): Promise<RenderResult> {
    if (hooks.signal?.aborted) return Promise.reject(new RenderAbortedError());
    const abortFlag = new SharedArrayBuffer(4);
    const flag = new Int32Array(abortFlag);
    const onAbort = () => Atomics.store(flag, 0, 1);
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise<RenderResult>((resolve, reject) => {
      this.send(
        { type: 'render', id: this.nextId++, request, abortFlag },
        { resolve: (r) => resolve(r as RenderResult), reject, onProgress: hooks.onProgress },
      );
    }).finally(() => hooks.signal?.removeEventListener('abort', onAbort));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new Error('inference thread closed'));
    await this.worker.terminate();
  }
}
