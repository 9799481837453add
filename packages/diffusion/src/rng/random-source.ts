/**
 * A stateful source of standard normal samples. Each call continues the state of the
 * previous one, exactly as repeated `torch.randn(..., generator=g)` calls do.
 */
export interface RandomSource {
  /** Draws `shape.reduce(*)` float32 normals in C order, as `torch.randn(shape, generator)`. */
  randn(shape: readonly number[]): Float32Array;
}

/**
 * Draws a batch-shaped tensor from one generator per batch item, as diffusers'
 * `randn_tensor(shape, generator=[g0, g1, ...])` does: item i is `randn([1, ...rest], g_i)`.
 */
export function randnPerItem(generators: readonly RandomSource[], shape: readonly number[]): Float32Array {
  const [batch, ...rest] = shape;
  if (generators.length !== batch) {
    throw new Error(`randnPerItem: ${generators.length} generators for a batch of ${batch}`);
  }
  const itemShape = [1, ...rest];
  const itemSize = rest.reduce((a, b) => a * b, 1);
  const out = new Float32Array(batch * itemSize);
  generators.forEach((g, i) => out.set(g.randn(itemShape), i * itemSize));
  return out;
}
