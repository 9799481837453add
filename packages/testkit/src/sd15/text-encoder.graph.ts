import { GraphBuilder, makeTensor } from '@kiln/onnx';
import type { TensorProto } from '@kiln/onnx';
import { quickGelu } from '../nn/activation.ops.js';
import { attention } from '../nn/attention.layer.js';
import { RESIDUAL_BRANCH_GAIN } from '../nn/init.js';
import { linear3d } from '../nn/linear.layer.js';
import { NetContext } from '../nn/net.context.js';
import type { Precision } from '../nn/net.context.js';
import { layerNorm } from '../nn/norm.layer.js';
import type { TextEncoderConfig } from './sd15.config.js';

/** Token embeddings are drawn wider than CLIP's trained ones so hidden states are O(1) from the start. */
const TOKEN_EMBEDDING_STD = 0.5;
const POSITION_EMBEDDING_STD = 0.2;

/** Most negative finite value of each precision: CLIP's causal mask value (torch.finfo(dtype).min). */
const MASK_VALUE: Record<Precision, number> = { float32: -3.4028234663852886e38, float16: -65504 };

/**
 * The CLIP text transformer (transformers' CLIPTextModel) as diffusers exports it:
 * `input_ids` int32 [batch, sequence] → `last_hidden_state` [batch, sequence, D] and
 * `pooler_output` [batch, D] (the final-norm state at argmax(input_ids), the EOS token).
 * It also outputs `hidden_states.0..L` (transformers' output_hidden_states: 0 = embeddings,
 * i = after layer i, before the final layer norm) so callers can implement clip_skip.
 */
export function buildTextEncoder(config: TextEncoderConfig, precision: Precision, seed: number): GraphBuilder {
  const g = new GraphBuilder('text_encoder');
  const ctx = new NetContext(g, precision, seed);
  const { hidden, layers } = config;
  const inputIds = g.addInput('input_ids', 'int32', ['batch', 'sequence']);
  const hiddenStates: string[] = [];

  const last = g.scope('text_model', () => {
    const embedded = g.scope('embeddings', () => embeddings(ctx, inputIds, config));
    hiddenStates.push(embedded);
    const mask = causalMask(ctx, inputIds);
    let h = embedded;
    for (let i = 0; i < layers; i++) {
      h = g.scope('encoder', () => g.scope(`layers.${i}`, () => encoderLayer(ctx, h, mask, config)));
      hiddenStates.push(h);
    }
    return layerNorm(ctx, 'final_layer_norm', h, hidden, config.eps);
  });

  const eosIndex = g.op('ArgMax', [g.op('Cast', [inputIds], { to: 7 /* INT64 */ })], { axis: -1, keepdims: 1 });
  const pooled = g.op('GatherND', [last, eosIndex], { batch_dims: 1 });
  g.addOutput('last_hidden_state', precision, ['batch', 'sequence', hidden], last);
  g.addOutput('pooler_output', precision, ['batch', hidden], pooled);
  hiddenStates.forEach((state, i) =>
    g.addOutput(`hidden_states.${i}`, precision, ['batch', 'sequence', hidden], state),
  );
  return g;
}

/** token_embedding(input_ids) + position_embedding(0..sequence-1). */
function embeddings(ctx: NetContext, inputIds: string, config: TextEncoderConfig): string {
  const g = ctx.graph;
  const tokenTable = g.scope('token_embedding', () =>
    ctx.parameter('weight', [config.vocabSize, config.hidden], { std: TOKEN_EMBEDDING_STD }),
  );
  const positionTable = g.scope('position_embedding', () =>
    ctx.parameter('weight', [config.maxPositions, config.hidden], { std: POSITION_EMBEDDING_STD }),
  );
  const tokens = g.scope('token_embedding', () => g.op('Gather', [tokenTable, inputIds]));
  const positions = g.op('Range', [
    g.constant('int64', [], [0]),
    sequenceLength(ctx, inputIds),
    g.constant('int64', [], [1]),
  ]);
  return g.op('Add', [tokens, g.scope('position_embedding', () => g.op('Gather', [positionTable, positions]))]);
}

/** Scalar int64 sequence length of [batch, sequence] ids. */
function sequenceLength(ctx: NetContext, inputIds: string): string {
  const g = ctx.graph;
  return g.op('Gather', [g.op('Shape', [inputIds]), g.constant('int64', [], [1])], { axis: 0 });
}

/** [sequence, sequence] additive mask: 0 on and below the diagonal, the dtype's minimum above (CLIP is causal). */
function causalMask(ctx: NetContext, inputIds: string): string {
  const g = ctx.graph;
  const length = g.op('Unsqueeze', [sequenceLength(ctx, inputIds), ctx.int64([0])]);
  const square = g.op('Concat', [length, length], { axis: 0 });
  const filled = g.op('ConstantOfShape', [square], { value: maskValueTensor(ctx.precision) });
  return g.op('Trilu', [filled, g.constant('int64', [], [1])], { upper: 1 });
}

function maskValueTensor(precision: Precision): TensorProto {
  const { name: _unnamed, ...tensor } = makeTensor('', precision, [1], [MASK_VALUE[precision]]);
  return tensor;
}

/** A pre-LayerNorm CLIP encoder layer: causal self-attention and a quick_gelu MLP, each residual. */
function encoderLayer(ctx: NetContext, x: string, mask: string, config: TextEncoderConfig): string {
  const g = ctx.graph;
  const { hidden, heads, intermediate, eps } = config;
  const names = { q: 'q_proj', k: 'k_proj', v: 'v_proj', out: 'out_proj' };
  const normed1 = layerNorm(ctx, 'layer_norm1', x, hidden, eps);
  const attended = g.scope('self_attn', () =>
    attention(ctx, normed1, normed1, { queryDim: hidden, contextDim: hidden, heads, qkvBias: true, names }, mask),
  );
  const h = g.op('Add', [x, attended]);
  const normed2 = layerNorm(ctx, 'layer_norm2', h, hidden, eps);
  const mlp = g.scope('mlp', () => {
    const up = quickGelu(ctx, linear3d(ctx, 'fc1', normed2, hidden, intermediate));
    return linear3d(ctx, 'fc2', up, intermediate, hidden, { gain: RESIDUAL_BRANCH_GAIN });
  });
  return g.op('Add', [h, mlp]);
}
