/**
 * Brownian noise drawn ahead on a helper thread. onnxruntime-node's `session.run` holds the
 * calling thread for the whole UNet evaluation (on a GPU, the CPU then waits), and DPM++ SDE's
 * tree costs ~14 ms of CPU per step at 512×512 (docs/benchmarks.md, row 1c). The noise depends
 * only on the seeds and the sigmas (brownian-tree.ts), so a helper thread draws step k+1's while
 * the UNet of step k runs, and the step finds it ready.
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

/** Helper threads between loops: one is kept, so a worker's renders do not each start one. */
const idleHelpers: Worker[] = [];
const KEPT_IDLE = 1;
const exitedHelpers = new WeakSet<Worker>();
/**
 * Set when a helper thread threw outside its drawing (its module failed to load, or it crashed):
 * the loop waiting on it learns only by stalling, so later loops draw inline from the start.
 */
let helpersBroken = false;

/** A helper thread for one loop: an idle one or a new one; none when none can be had. */
function takeHelper(): Worker | undefined {
  if (helpersBroken) return undefined;
  const idle = idleHelpers.pop();
  if (idle) return idle;
  const entry = threadEntry('noise-ahead/noise-ahead.worker.js');
  if (!existsSync(fileURLToPath(entry))) return undefined;
  const helper = new Worker(entry);
  helper.unref(); // an idle helper never keeps a process alive
  helper.on('error', () => {
    helpersBroken = true;
  });
  helper.on('exit', () => {
    exitedHelpers.add(helper);
    const at = idleHelpers.indexOf(helper);
    if (at >= 0) idleHelpers.splice(at, 1);
  });
  return helper;
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
  private helper: Worker | undefined;

  constructor(
    private readonly spec: BrownianNoiseSpec,
    private readonly tally: NoiseTally,
  ) {
    this.ring = new NoiseRing(spec.seeds.length * spec.itemSize);
    try {
      this.helper = takeHelper();
      const job: NoiseAheadJob = { spec, buffer: this.ring.buffer };
      this.helper?.postMessage(job);
    } catch {
      this.close(); // no thread to be had (Worker refused to start): every query is drawn inline
    }
  }

  noise(sigma: number, sigmaNext: number): Float32Array {
    if (this.helper) {
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

  /** Stops the helper's work for this loop and hands the helper back. */
  close(): void {
    this.ring.cancel();
    const helper = this.helper;
    this.helper = undefined;
    if (!helper) return;
    if (idleHelpers.length < KEPT_IDLE && !exitedHelpers.has(helper)) idleHelpers.push(helper);
    else void helper.terminate();
  }
}

/**
 * The Brownian noise of one denoising loop, drawn ahead: pass {@link source} to the scheduler's
 * steps and {@link close} when the loop ends, however it ends.
 */
export class NoiseAhead {
  private readonly open: NoiseFromHelper[] = [];
  readonly tally: NoiseTally = { ahead: 0, inline: 0 };

  readonly source: BrownianNoiseSource = (spec) => {
    const noise = new NoiseFromHelper(spec, this.tally);
    this.open.push(noise);
    return noise;
  };

  close(): void {
    for (const noise of this.open) noise.close();
    this.open.length = 0;
  }
}
