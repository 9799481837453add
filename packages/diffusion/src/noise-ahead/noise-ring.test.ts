import { describe, expect, it } from 'vitest';
import { NOISE_RING_SLOTS, NoiseRing } from './noise-ring.js';

const noiseOf = (query: number) => Float32Array.from({ length: 8 }, (_, i) => query * 10 + i);

describe('NoiseRing', () => {
  it('hands queries over in order, each slot reused once read', () => {
    const producer = new NoiseRing(8);
    const consumer = new NoiseRing(8, producer.buffer);
    for (let query = 0; query < 5; query++) {
      expect(producer.awaitSlot(query)).toBe(true);
      producer.publish(query, noiseOf(query));
      expect(consumer.take(query)).toEqual(noiseOf(query));
    }
  });

  it('lets the producer run as many queries ahead of the reader as the ring holds', () => {
    const ring = new NoiseRing(8);
    for (let query = 0; query < NOISE_RING_SLOTS; query++) {
      expect(ring.awaitSlot(query)).toBe(true);
      ring.publish(query, noiseOf(query));
    }
    // The next slot is still unread: after a cancel the producer stops instead of waiting.
    ring.cancel();
    expect(ring.awaitSlot(NOISE_RING_SLOTS)).toBe(false);
  });

  it('answers nothing once the producer failed, without waiting', () => {
    const ring = new NoiseRing(8);
    ring.fail();
    expect(ring.take(0)).toBeUndefined();
  });

  it('gives copies: a slot written again does not change noise already taken', () => {
    const ring = new NoiseRing(8);
    ring.publish(0, noiseOf(0));
    const taken = ring.take(0);
    ring.publish(NOISE_RING_SLOTS, noiseOf(9));
    expect(taken).toEqual(noiseOf(0));
  });
});
