/**
 * A ControlNet as an ONNX graph in the layout of optimum's ControlNet export (the shared reference
 * model's `controlnet/model.onnx`): inputs `sample`, `timestep`, `encoder_hidden_states`,
 * `controlnet_cond` and, where present, `conditioning_scale` (shape [1]); outputs
 * `down_block_res_samples.{i}` and `mid_block_res_sample`, already multiplied by the scale.
 * A graph without `conditioning_scale` has its outputs multiplied here instead (the same plain
 * float32 product diffusers' ControlNetModel does).
 */
import { ModelLoadError, OnnxModel, type HostTensor, type SessionSettings } from './onnx-session.js';

export interface ControlNetResiduals {
  /** Down residuals 0, 1, … ([batch, channels, h, w] each). */
  down: HostTensor[];
  mid: HostTensor;
}

const DOWN_OUTPUT = /^down_block_res_samples?[._]?(\d+)$/;
const MID_OUTPUT = /^mid_block_res_samples?$/;
const REQUIRED_INPUTS = ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond'] as const;

export class ControlNetModel {
  private constructor(
    readonly session: OnnxModel,
    readonly downOutputs: readonly string[],
    readonly midOutput: string,
    readonly hasScaleInput: boolean,
  ) {}

  get path(): string {
    return this.session.path;
  }

  /** Channels of the conditioning image the ControlNet takes (3 for every SD1.5 ControlNet). */
  get conditioningChannels(): number | undefined {
    const dim = this.session.inputs.get('controlnet_cond')?.shape[1];
    return typeof dim === 'number' ? dim : undefined;
  }

  /** Channel count per down output (undefined where the export left it symbolic). */
  get downChannels(): (number | undefined)[] {
    return this.downOutputs.map((name) => {
      const dim = this.session.outputs.get(name)?.shape[1];
      return typeof dim === 'number' ? dim : undefined;
    });
  }

  static async load(file: string, settings: SessionSettings = {}): Promise<ControlNetModel> {
    const session = await OnnxModel.load(file, settings);
    try {
      for (const name of REQUIRED_INPUTS) {
        if (!session.hasInput(name)) {
          throw new ModelLoadError(`${file} has no input named ${name}; is it a ControlNet ONNX export?`, file);
        }
      }
      const names = [...session.outputs.keys()];
      const down = names
        .map((name) => ({ name, match: DOWN_OUTPUT.exec(name) }))
        .filter((x): x is { name: string; match: RegExpExecArray } => x.match !== null)
        .sort((a, b) => Number(a.match[1]) - Number(b.match[1]))
        .map((x) => x.name);
      const mid = names.find((n) => MID_OUTPUT.test(n));
      if (down.length === 0 || mid === undefined) {
        throw new ModelLoadError(
          `${file} has no down_block_res_samples.{i} / mid_block_res_sample outputs; is it a ControlNet ONNX export?`,
          file,
        );
      }
      return new ControlNetModel(session, down, mid, session.hasInput('conditioning_scale'));
    } catch (err) {
      await session.dispose();
      throw err;
    }
  }

  /**
   * One ControlNet call: `sample` is the scaled model input (both guidance halves), `cond` the
   * conditioning image tensor at 8× the latent size, `scale` this step's conditioning scale.
   */
  async run(
    sample: HostTensor,
    timestep: HostTensor,
    context: HostTensor,
    cond: HostTensor,
    scale: number,
  ): Promise<ControlNetResiduals> {
    const feeds: Record<string, HostTensor> = {
      sample,
      timestep,
      encoder_hidden_states: context,
      controlnet_cond: cond,
    };
    if (this.hasScaleInput) feeds.conditioning_scale = { data: Float32Array.of(scale), dims: [1] };
    const out = await this.session.run(feeds, [...this.downOutputs, this.midOutput]);
    const scaled = (t: HostTensor): HostTensor => {
      if (this.hasScaleInput) return t;
      const data = t.data as Float32Array;
      for (let i = 0; i < data.length; i++) data[i] = Math.fround(data[i] * scale);
      return t;
    };
    return { down: this.downOutputs.map((n) => scaled(out[n])), mid: scaled(out[this.midOutput]) };
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}
