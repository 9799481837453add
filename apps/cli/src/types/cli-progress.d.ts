// The parts of cli-progress (3.12, no bundled types) that `kiln batch` uses.
declare module 'cli-progress' {
  export interface Options {
    format?: string;
    noTTYOutput?: boolean;
    notTTYSchedule?: number;
    etaBuffer?: number;
    hideCursor?: boolean | null;
    stream?: NodeJS.WritableStream;
  }
  export interface Preset {
    barCompleteChar: string;
    barIncompleteChar: string;
  }
  export class SingleBar {
    constructor(options: Options, preset?: Preset);
    start(total: number, startValue: number, payload?: Record<string, unknown>): void;
    update(value: number, payload?: Record<string, unknown>): void;
    stop(): void;
  }
  export const Presets: { shades_classic: Preset; legacy: Preset; rect: Preset; shades_grey: Preset };
  const cliProgress: { SingleBar: typeof SingleBar; Presets: typeof Presets };
  export default cliProgress;
}
