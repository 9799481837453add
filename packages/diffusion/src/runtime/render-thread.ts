/**
 * Entry point of the inference thread. onnxruntime's `session.run` and the scheduler arithmetic
 * block the thread they run on; here they cannot starve the host's event loop (BullMQ lock
 * renewal, progress events, HTTP).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { RenderInputError } from '../errors.js';
import { Renderer } from './renderer.js';
import type { HostMessage, SerializedError, ThreadInit, ThreadMessage } from './thread-protocol.js';

const port = parentPort;
if (!port) throw new Error('render-thread must run as a worker thread');
const renderer = new Renderer((workerData as ThreadInit).options);

function serialize(err: unknown): SerializedError {
  if (err instanceof RenderInputError)
    return { name: err.name, message: err.message, code: err.code, field: err.field };
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

const post = (message: ThreadMessage, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

port.on('message', async (message: HostMessage) => {
  try {
    if (message.type === 'warm') {
      const profile = await renderer.warm(message.modelDir, message.family);
      post({ type: 'done', id: message.id, profile, provider: renderer.executionProvider });
      return;
    }
    const flag = new Int32Array(message.abortFlag);
    const signal = {
      get aborted() {
        return Atomics.load(flag, 0) === 1;
      },
    };
    const result = await renderer.render(message.request, {
      signal,
      onProgress: (progress) => post({ type: 'progress', id: message.id, progress }),
      onStage: (stage) => post({ type: 'stage', id: message.id, stage }),
    });
    // Pixel and latent buffers move to the host without a copy.
    const transfer = [...result.images.map((i) => i.pixels.buffer), ...result.latents.map((l) => l.buffer)];
    post({ type: 'done', id: message.id, result, provider: renderer.executionProvider }, transfer as ArrayBuffer[]);
  } catch (err) {
    post({ type: 'error', id: message.id, error: serialize(err), provider: renderer.executionProvider });
  }
});
