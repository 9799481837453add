import type { ExecutionProvider } from '@kiln/diffusion';

/** What every benchmark suite receives from the runner. */
export interface BenchContext {
  /** Fewer repetitions (a smoke run of the harness); figures are noisier. */
  quick: boolean;
  /** Image size of the full-size session-option sweep (item 6); 512 is the issue's size, slower. */
  sweepSize: number;
  /** Execution provider of the GPU suite (the CPU suites always run on the CPU). */
  provider: ExecutionProvider;
  /** Full-size model precision of the GPU suite. */
  precision: 'fp16' | 'fp32';
  /** Denoising steps per image of the GPU suite. */
  gpuSteps: number;
  log(line: string): void;
}

/** The command that reproduces one suite alone. */
export const reproduce = (suite: string, extra = '') => `npm run bench -- --only ${suite}${extra ? ` ${extra}` : ''}`;
