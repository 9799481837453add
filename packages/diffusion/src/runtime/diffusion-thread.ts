/**
 * Host side of the inference thread: one thread per worker process, one render at a time
 * (a GPU, or the CPU's cores, are used fully by one render). Renders asked for while another runs
 * wait their turn here, on the host: two renders interleaved step by step in the thread would
 * both take twice as long. With KILN_WORKER_CONCURRENCY=2 the next job's render thus runs while
 * the previous job's images are encoded and stored (docs/benchmarks.md).
 */
import { Worker } from 'node:worker_threads';
import type { ModelMemoryProfile } from '@kiln/memory';
import { RenderAbortedError, RenderInputError } from '../errors.js';
import type { RenderProgress, RenderResult, RenderStage } from '../pipelines/sd15/render-types.js';
import type { ExecutionProvider } from '../models/onnx-session.js';
import type { ModelFamily, RendererOptions, RenderRequest } from './renderer.js';
import { threadEntry } from './thread-entry.js';
import type { HostMessage, SerializedError, ThreadInit, ThreadMessage } from './thread-protocol.js';

interface Pending {
  resolve: (r: RenderResult | ModelMemoryProfile | undefined) => void;
  reject: (e: Error) => void;
  onProgress?: (p: RenderProgress) => void;
  onStage?: (stage: RenderStage) => void;
}

/** What a caller of {@link DiffusionThread.render} can hook into. */
export interface RenderThreadHooks {
  signal?: AbortSignal;
  onProgress?: (p: RenderProgress) => void;
  onStage?: (stage: RenderStage) => void;
}

function revive(error: SerializedError): Error {
  if (error.name === 'RenderInputError') {
    return new RenderInputError(
      (error.code ?? 'input_rejected') as RenderInputError['code'],
      error.message,
      error.field,
    );
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
  /** Settles when every render and warm-up asked for so far has ended: the next one starts after it. */
  private tail: Promise<void> = Promise.resolve();

  /** As the thread last reported it (the thread resolves `auto` when its first session loads). */
  private provider: ExecutionProvider;

  constructor(private readonly options: RendererOptions = {}) {
    this.provider = options.executionProvider ?? 'cpu';
    this.worker = this.spawn();
  }

  /**
   * The provider the thread's sessions run on: with `auto`, the one chosen, known from the first
   * warm-up or render that loaded a session; `auto` before that.
   */
  get executionProvider(): ExecutionProvider {
    return this.provider;
  }

  private spawn(): Worker {
    const init: ThreadInit = { options: this.options };
    const worker = new Worker(threadEntry('runtime/render-thread.js'), { workerData: init });
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
    if (m.type === 'stage') {
      entry.onStage?.(m.stage);
      return;
    }
    this.pending.delete(m.id);
    this.provider = m.provider;
    if (m.type === 'done') entry.resolve(m.result ?? m.profile);
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

  /**
   * Runs `work` once everything queued before it has ended; an abort while it waits rejects at once
   * (and lets the renders behind it keep their place).
   */
  private inTurn<T>(work: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const previous = this.tail;
    let finished!: () => void;
    const mine = new Promise<void>((resolve) => (finished = resolve));
    this.tail = previous.then(() => mine);
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        finished();
        reject(new RenderAbortedError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      void previous.then(() => {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) return;
        if (this.closed) {
          finished();
          reject(new Error('inference thread closed'));
          return;
        }
        work().then(resolve, reject).finally(finished);
      });
    });
  }

  /** Loads a model ahead of the first job; an SD1.5 model's memory profile comes back. */
  warm(modelDir: string, family: ModelFamily = 'sd15'): Promise<ModelMemoryProfile | undefined> {
    return this.inTurn(
      () =>
        new Promise<ModelMemoryProfile | undefined>((resolve, reject) =>
          this.send(
            { type: 'warm', id: this.nextId++, modelDir, family },
            { resolve: (profile) => resolve(profile as ModelMemoryProfile | undefined), reject },
          ),
        ),
    );
  }

  render(request: RenderRequest, hooks: RenderThreadHooks = {}): Promise<RenderResult> {
    if (hooks.signal?.aborted) return Promise.reject(new RenderAbortedError());
    return this.inTurn(() => this.renderNow(request, hooks), hooks.signal);
  }

  private renderNow(request: RenderRequest, hooks: RenderThreadHooks): Promise<RenderResult> {
    const abortFlag = new SharedArrayBuffer(4);
    const flag = new Int32Array(abortFlag);
    const onAbort = () => Atomics.store(flag, 0, 1);
    hooks.signal?.addEventListener('abort', onAbort, { once: true });
    return new Promise<RenderResult>((resolve, reject) => {
      this.send(
        { type: 'render', id: this.nextId++, request, abortFlag },
        { resolve: (r) => resolve(r as RenderResult), reject, onProgress: hooks.onProgress, onStage: hooks.onStage },
      );
    }).finally(() => hooks.signal?.removeEventListener('abort', onAbort));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new Error('inference thread closed'));
    await this.worker.terminate();
  }
}
