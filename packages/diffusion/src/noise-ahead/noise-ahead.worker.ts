/**
 * Thread entry: draws the Brownian noise of one denoising loop after another, each in query order
 * into its ring (noise-ring.ts), as far ahead as the ring allows.
 */
import { parentPort } from 'node:worker_threads';
import { BrownianTreeNoiseSampler } from '../schedulers/brownian-tree.js';
import type { NoiseAheadJob } from './noise-ahead.js';
import { NoiseRing } from './noise-ring.js';

function draw({ spec, buffer }: NoiseAheadJob): void {
  const ring = new NoiseRing(spec.seeds.length * spec.itemSize, buffer);
  try {
    const sampler = BrownianTreeNoiseSampler.fromSpec(spec);
    for (let query = 0; query < spec.queries.length; query++) {
      if (!ring.awaitSlot(query)) return;
      const [sigma, sigmaNext] = spec.queries[query];
      ring.publish(query, sampler.noise(sigma, sigmaNext));
    }
  } catch {
    ring.fail();
  }
}

parentPort?.on('message', draw);
