/**
 * Brownian noise drawn ahead on a helper thread. onnxruntime-node's `session.run` holds the
 * calling thread for the whole UNet evaluation (on a GPU, the CPU then waits), and DPM++ SDE's
 * tree costs ~14 ms of CPU per step at 512×512 (docs/benchmarks.md, row 1c). The noise depends
 * only on the seeds and the sigmas (brownian-tree.ts), so a helper thread draws step k+1's while
 * the UNet of step k runs, and the step finds it ready. One helper serves a render's micro-batches
 * one after the other.
 *
 * Same numbers as drawing inline: the helper runs the same sampler on the same queries. Whenever
 * the helper cannot answer (it failed, stalled, or the scheduler asks something unforeseen), the
 * loop draws that query and the rest itself, which gives the same numbers too.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import {
  BrownianTreeNoiseSampler,
  type BrownianNoise,
  type BrownianNoiseSource,
  type BrownianNoiseSpec,
} from '../schedulers/brownian-tree.js';
import { threadEntry } from '../runtime/thread-entry.js';
import { NoiseRing } from './noise-ring.js';

/** What the helper thread is sent for one loop. */
export interface NoiseAheadJob {
  spec: BrownianNoiseSpec;
  buffer: SharedArrayBuffer;
}

/**
 * Set when a helper thread threw outside its drawing (its module failed to load, or it crashed):
 * the loop waiting on it learns only by stalling, so later loops draw inline from the start.
 */
let helpersBroken = false;

/** A new helper thread, or none when none can be had. */
function startHelper(): Worker | undefined {
  if (helpersBroken) return undefined;
  const entry = threadEntry('noise-ahead/noise-ahead.worker.js');
  if (!existsSync(fileURLToPath(entry))) return undefined;
  try {
    const helper = new Worker(entry);
    helper.unref(); // a render that forgets to close never keeps the process alive
    helper.on('error', () => {
      helpersBroken = true;
    });
    return helper;
  } catch {
    return undefined; // Worker refused to start: every query is drawn inline
  }
}

/** How many queries the helper answered, and how many were drawn inline. */
export interface NoiseTally {
  ahead: number;
  inline: number;
}

/** One loop's noise: the helper's answers while they match the scheduler's queries. */
class NoiseFromHelper implements BrownianNoise {
  private readonly ring: NoiseRing;
  private next = 0;
  private inline: BrownianTreeNoiseSampler | undefined;
  private drawingAhead: boolean;

  constructor(
    private readonly spec: BrownianNoiseSpec,
    private readonly tally: NoiseTally,
    helper: Worker | undefined,
  ) {
    this.ring = new NoiseRing(spec.seeds.length * spec.itemSize);
    const job: NoiseAheadJob = { spec, buffer: this.ring.buffer };
    helper?.postMessage(job);
    this.drawingAhead = helper !== undefined;
  }

  noise(sigma: number, sigmaNext: number): Float32Array {
    if (this.drawingAhead) {
      const query = this.spec.queries[this.next];
      const expected = query !== undefined && query[0] === sigma && query[1] === sigmaNext;
      const drawn = expected ? this.ring.take(this.next) : undefined;
      if (drawn) {
        this.next++;
        this.tally.ahead++;
        return drawn;
      }
      this.close();
    }
    this.inline ??= BrownianTreeNoiseSampler.fromSpec(this.spec);
    this.tally.inline++;
    return this.inline.noise(sigma, sigmaNext);
  }

  /** Stops the helper's work for this loop. */
  close(): void {
    this.ring.cancel();
    this.drawingAhead = false;
  }
}

/**
 * The Brownian noise of a render's denoising loops, drawn ahead by one helper thread, started
 * when a loop first needs it: pass {@link source} to the scheduler's steps, and {@link close}
 * when the render ends, however it ends. The helper lives no longer than the render, so its
 * memory is the render's (the memory estimate counts it for the samplers that use it).
 */
export class NoiseAhead {
  /** The loop the helper draws for: a render's loops run one after the other. */
  private loop: NoiseFromHelper | undefined;
  private helper: Worker | undefined;
  private state: 'unstarted' | 'open' | 'closed' = 'unstarted';
  readonly tally: NoiseTally = { ahead: 0, inline: 0 };

  readonly source: BrownianNoiseSource = (spec) => {
    if (this.state === 'unstarted') {
      this.state = 'open';
      this.helper = startHelper();
    }
    // A loop that stopped early must not hold the helper from the next one.
    this.loop?.close();
    this.loop = new NoiseFromHelper(spec, this.tally, this.helper);
    return this.loop;
  };

  close(): void {
    this.state = 'closed';
    this.loop?.close();
    this.loop = undefined;
    void this.helper?.terminate();
    this.helper = undefined;
  }
}

/**
 * A render's noise helper where it pays: when the UNet runs on an accelerator, so the CPU waits
 * during each call. On the CPU provider onnxruntime's threads already use every core, and a
 * helper started per render made small renders slower (docs/benchmarks.md): the tree is drawn
 * inline there.
 */
export function noiseAheadFor(executionProvider: string): NoiseAhead | undefined {
  return executionProvider === 'cpu' ? undefined : new NoiseAhead();
}
