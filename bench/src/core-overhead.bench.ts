/**
 * Item 1, core overhead: for renders of a mid-sized model, Kiln's wall time per image divided by
 * the time onnxruntime spent in `session.run` for it (text encoder + UNet + VAE), measured in the
 * same renders. Two paths side by side, interleaved: the worker's (inference thread, result
 * transferred to the main thread, JPEG-encoded there) and the in-process pipeline alone.
 */
import { DiffusionThread, Renderer, encodeImage, type RenderResult } from '@kiln/diffusion';
import type { TextToImageParams } from '@kiln/diffusion';
import { MID_MODEL, ensureBenchModel } from './bench-models.js';
import { reproduce, type BenchContext } from './context.js';
import type { BenchSection } from './report.js';
import { fmt, mean, sum } from './stats.js';

export const CORE_RENDER = { width: 512, height: 512, steps: 20, sampler: 'DDIM', cfgScale: 7.5 } as const;

export function coreParams(seed: number): TextToImageParams {
  return {
    prompt: 'a photograph of an astronaut riding a horse',
    negativePrompt: '',
    sampler: CORE_RENDER.sampler,
    steps: CORE_RENDER.steps,
    cfgScale: CORE_RENDER.cfgScale,
    width: CORE_RENDER.width,
    height: CORE_RENDER.height,
    seeds: [seed],
    clipSkip: 1,
    microBatchSize: 1,
  };
}

interface PathSample {
  wallMs: number;
  onnxMs: number;
  pipelineMs: number;
  encodeMs: number;
}

export async function coreOverheadBench(ctx: BenchContext): Promise<BenchSection> {
  const modelDir = await ensureBenchModel(MID_MODEL, ctx.log);
  const renders = ctx.quick ? 2 : 5;
  const renderer = new Renderer({ executionProvider: 'cpu' });
  const thread = new DiffusionThread({ executionProvider: 'cpu' });
  const request = (seed: number) => ({ family: 'sd15' as const, modelDir, params: coreParams(seed) });
  try {
    await renderer.warm(modelDir);
    await thread.warm(modelDir);
    // One render each first: the arena and caches of a fresh session are not what a warm worker runs on.
    await renderer.render(request(1));
    await thread.render(request(1));

    const worker: PathSample[] = [];
    const inProcess: PathSample[] = [];
    for (let i = 0; i < renders; i++) {
      const seed = 100 + i;
      let started = performance.now();
      const direct: RenderResult = await renderer.render(request(seed));
      inProcess.push({
        wallMs: performance.now() - started,
        onnxMs: direct.timings.onnxMs,
        pipelineMs: direct.timings.totalMs,
        encodeMs: 0,
      });

      started = performance.now();
      const result = await thread.render(request(seed));
      const encodeStarted = performance.now();
      for (const image of result.images) await encodeImage(image.pixels, image.width, image.height, 'jpeg');
      const done = performance.now();
      worker.push({
        wallMs: done - started,
        onnxMs: result.timings.onnxMs,
        pipelineMs: result.timings.totalMs,
        encodeMs: done - encodeStarted,
      });
    }
    const ratio = (s: PathSample[]) => sum(s.map((x) => x.wallMs)) / sum(s.map((x) => x.onnxMs));
    const workerRatio = ratio(worker);
    const inProcessRatio = ratio(inProcess);
    const perImage = (s: PathSample[], f: (x: PathSample) => number) => mean(s.map(f));
    const setting = `${MID_MODEL.description}, ${CORE_RENDER.width}×${CORE_RENDER.height}, ${CORE_RENDER.steps} steps ${CORE_RENDER.sampler}, cfg ${CORE_RENDER.cfgScale}, 1 image per render, ${renders} renders per path`;
    const unetPerCall = (perImage(worker, (x) => x.onnxMs) / (CORE_RENDER.steps + 2)).toFixed(0);
    const own = (samples: PathSample[]) => perImage(samples, (x) => x.wallMs - x.onnxMs);
    const workerPipeline = perImage(worker, (x) => x.pipelineMs - x.onnxMs);
    const encode = perImage(worker, (x) => x.encodeMs);
    const why =
      `Kiln's ${fmt(own(worker), 1)} ms per image: JPEG encoding ${fmt(encode, 1)} ms (the testkit's random weights make noise, ` +
      `JPEG's worst case: a smooth 512×512 image encodes in ~3 ms here), the pipeline ${fmt(workerPipeline, 1)} ms on the inference ` +
      `thread (${fmt(own(inProcess), 1)} ms in-process, row 1b), the transfer ${fmt(own(worker) - workerPipeline - encode, 1)} ms.`;
    return {
      title: 'Item 1: core overhead',
      rows: [
        {
          id: '1',
          what: 'core overhead: worker-path wall time per image ÷ Σ session.run',
          value: fmt(workerRatio, 3),
          goal: '≤ 1.03',
          met: workerRatio <= 1.03,
          shortfall: fmt(workerRatio - 1.03, 3),
          why,
          basis: `onnxruntime's session.run time of the same renders (${setting}); wall = inference thread + transfer + JPEG encode`,
          command: reproduce('core'),
        },
        {
          id: '1b',
          what: 'core overhead: in-process pipeline wall per image ÷ Σ session.run',
          value: fmt(inProcessRatio, 3),
          goal: '≤ 1.03',
          met: inProcessRatio <= 1.03,
          shortfall: fmt(inProcessRatio - 1.03, 3),
          why: `Kiln's ${fmt(own(inProcess), 1)} ms per image in-process (scheduler, guidance, copies, postprocessing; row 1c measures them alone).`,
          basis: `the same renders on the main thread (what \`kiln render\` runs), no encoding`,
          command: reproduce('core'),
        },
      ],
      lines: [
        `Setting: ${setting}. Model: ${MID_MODEL.description} (~${unetPerCall} ms of onnxruntime per step on average, text encoder and VAE included).`,
        '',
        '| path | wall ms/image | session.run ms/image | Kiln ms/image | of which: pipeline (scheduler, guidance, copies, postprocess) | thread transfer | JPEG encode |',
        '|---|---|---|---|---|---|---|',
        ...[
          ['worker (inference thread + encode)', worker],
          ['in-process pipeline', inProcess],
        ].map(([name, s]) => {
          const samples = s as PathSample[];
          const wall = perImage(samples, (x) => x.wallMs);
          const onnx = perImage(samples, (x) => x.onnxMs);
          const pipeline = perImage(samples, (x) => x.pipelineMs - x.onnxMs);
          const encode = perImage(samples, (x) => x.encodeMs);
          const transfer = name === 'in-process pipeline' ? 0 : wall - perImage(samples, (x) => x.pipelineMs) - encode;
          return `| ${name} | ${fmt(wall, 1)} | ${fmt(onnx, 1)} | ${fmt(wall - onnx, 1)} | ${fmt(pipeline, 1)} | ${fmt(transfer, 1)} | ${fmt(encode, 1)} |`;
        }),
      ],
    };
  } finally {
    await thread.close();
    await renderer.dispose();
  }
}
