import { GraphBuilder, makeTensor } from '@kiln/onnx';
import { gelu, quickGelu } from '../nn/activation.ops.js';
import { attention } from '../nn/attention.layer.js';
import { RESIDUAL_BRANCH_GAIN } from '../nn/init.js';
import { linear3d } from '../nn/linear.layer.js';
import { NetContext } from '../nn/net.context.js';
import { layerNorm } from '../nn/norm.layer.js';
import type { Sd3ClipConfig } from './sd3.config.js';

const VOCAB_SIZE = 49408;
const MAX_POSITIONS = 77;
const EPS = 1e-5;

/**
 * CLIPTextModelWithProjection as optimum exports it for SD3: `input_ids` int64 [batch, sequence] →
 * `text_embeds` [batch, projection] (the final-norm state at the eos token, argmax of the ids, times
 * the bias-free projection), `last_hidden_state`, and `hidden_states.0..L` (0 = embeddings, i =
 * after layer i, before the final norm; SD3 reads the penultimate one).
 */
export function buildSd3ClipEncoder(name: string, config: Sd3ClipConfig, seed: number): GraphBuilder {
  const g = new GraphBuilder(name);
  const ctx = new NetContext(g, 'float32', seed);
  const { hidden, layers, projection } = config;
  const inputIds = g.addInput('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const hiddenStates: string[] = [];
  const last = g.scope('text_model', () => {
    const tokens = g.scope('token_embedding', () =>
      g.op('Gather', [ctx.parameter('weight', [VOCAB_SIZE, hidden], { std: 0.5 }), inputIds]),
    );
    const length = g.op('Gather', [g.op('Shape', [inputIds]), g.constant('int64', [], [1])], { axis: 0 });
    const positions = g.op('Range', [g.constant('int64', [], [0]), length, g.constant('int64', [], [1])]);
    const positionTable = g.scope('position_embedding', () =>
      ctx.parameter('weight', [MAX_POSITIONS, hidden], { std: 0.2 }),
    );
    let h = g.op('Add', [tokens, g.op('Gather', [positionTable, positions])]);
    hiddenStates.push(h);
    const mask = causalMask(g, length);
    for (let i = 0; i < layers; i++) {
      h = g.scope(`encoder.layers.${i}`, () => encoderLayer(ctx, h, mask, config));
      hiddenStates.push(h);
    }
    return layerNorm(ctx, 'final_layer_norm', h, hidden, EPS);
  });
  const eos = g.op('ArgMax', [inputIds], { axis: -1, keepdims: 1 });
  const pooled = g.op('GatherND', [last, eos], { batch_dims: 1 });
  const textEmbeds = g.scope('text_projection', () =>
    g.op('MatMul', [pooled, ctx.parameter('weight', [hidden, projection], { std: 1 / Math.sqrt(hidden) })]),
  );
  g.addOutput('text_embeds', 'float32', ['batch_size', projection], textEmbeds);
  g.addOutput('last_hidden_state', 'float32', ['batch_size', 'sequence_length', hidden], last);
  hiddenStates.forEach((state, i) =>
    g.addOutput(`hidden_states.${i}`, 'float32', ['batch_size', 'sequence_length', hidden], state),
  );
  return g;
}

/** [sequence, sequence]: 0 on and below the diagonal, float32's minimum above (CLIP attends causally). */
function causalMask(g: GraphBuilder, length: string): string {
  const side = g.op('Unsqueeze', [length, g.constant('int64', [1], [0])]);
  const square = g.op('Concat', [side, side], { axis: 0 });
  const { name: _unnamed, ...value } = makeTensor('', 'float32', [1], [-3.4028234663852886e38]);
  return g.op('Trilu', [g.op('ConstantOfShape', [square], { value }), g.constant('int64', [], [1])], { upper: 1 });
}

function encoderLayer(ctx: NetContext, x: string, mask: string, config: Sd3ClipConfig): string {
  const g = ctx.graph;
  const { hidden, heads, intermediate } = config;
  const names = { q: 'q_proj', k: 'k_proj', v: 'v_proj', out: 'out_proj' };
  const normed1 = layerNorm(ctx, 'layer_norm1', x, hidden, EPS);
  const shape = { queryDim: hidden, contextDim: hidden, heads, qkvBias: true, names };
  const h = g.op('Add', [x, g.scope('self_attn', () => attention(ctx, normed1, normed1, shape, mask))]);
  const normed2 = layerNorm(ctx, 'layer_norm2', h, hidden, EPS);
  const mlp = g.scope('mlp', () => {
    const up = linear3d(ctx, 'fc1', normed2, hidden, intermediate);
    const act = config.activation === 'gelu' ? gelu(ctx, up) : quickGelu(ctx, up);
    return linear3d(ctx, 'fc2', act, intermediate, hidden, { gain: RESIDUAL_BRANCH_GAIN });
  });
  return g.op('Add', [h, mlp]);
}
