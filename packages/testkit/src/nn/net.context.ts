import type { GraphBuilder } from '@kiln/onnx';
import { uniformValues } from '../prng.js';

/** Compute/weight precision of a generated graph. */
export type Precision = 'float32' | 'float16';

/** How a parameter tensor is initialized: uniform values with this mean and standard deviation. */
export interface ParameterInit {
  std: number;
  mean?: number;
}

/**
 * What layer builders share: the graph, its precision, and the seeded parameter source.
 * Parameters are named by the builder's scope path (`down_blocks.0.resnets.1.conv1.weight`), the
 * names diffusers' PyTorch modules give them, and seeded by that name.
 */
export class NetContext {
  private matmulWeights = 0;

  constructor(
    readonly graph: GraphBuilder,
    readonly precision: Precision,
    readonly seed: number,
  ) {}

  /** Adds a parameter named `<scope>.<name>` with lazily generated seeded uniform values. */
  parameter(name: string, dims: number[], init: ParameterInit): string {
    const count = dims.reduce((product, dim) => product * dim, 1);
    return this.customParameter(name, dims, (seed, key) => uniformValues(seed, key, count, init.std, init.mean ?? 0));
  }

  /** Adds a parameter named `<scope>.<name>` whose values `make` derives from the seed and that name. */
  customParameter(name: string, dims: number[], make: (seed: number, key: string) => Float32Array): string {
    const key = this.graph.scopePath ? `${this.graph.scopePath}.${name}` : name;
    const { seed } = this;
    return this.graph.addInitializer(key, this.precision, dims, () => make(seed, key));
  }

  /**
   * Adds a Linear weight in MatMul layout [in, out]. PyTorch's exporter stores these transposed
   * under generated names (`onnx::MatMul_<n>`), and so do we, so consumers meet the real layout;
   * the values are still seeded by the module name.
   */
  matmulWeight(inFeatures: number, outFeatures: number, init: ParameterInit): string {
    const key = `${this.graph.scopePath}.weight`;
    const { seed } = this;
    return this.graph.addInitializer(
      `onnx::MatMul_${this.matmulWeights++}`,
      this.precision,
      [inFeatures, outFeatures],
      () => uniformValues(seed, key, inFeatures * outFeatures, init.std, init.mean ?? 0),
    );
  }

  /** A scalar or small constant in the compute precision. */
  constant(values: number[], dims: number[] = values.length === 1 ? [] : [values.length]): string {
    return this.graph.constant(this.precision, dims, values);
  }

  /** An int64 constant (shapes, axes, indices). */
  int64(values: number[]): string {
    return this.graph.constant('int64', [values.length], values);
  }
}
