/** What every benchmark suite receives from the runner. */
export interface BenchContext {
  /** Fewer repetitions (a smoke run of the harness); figures are noisier. */
  quick: boolean;
  /** Image size of the full-size session-option sweep (item 6); 512 is the issue's size, slower. */
  sweepSize: number;
  log(line: string): void;
}

/** The command that reproduces one suite alone. */
export const reproduce = (suite: string, extra = '') => `npm run bench -- --only ${suite}${extra ? ` ${extra}` : ''}`;
