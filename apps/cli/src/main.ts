import { Command, Option } from 'commander';
import { SD15_SAMPLERS, SD3_SAMPLERS } from '@kiln/contracts';
import { batchCommand } from './commands/batch.command.js';
import { makeTinyCommand } from './commands/models.command.js';
import { renderCommand } from './commands/render.command.js';
import { apiCommand, startCommand, workerCommand } from './commands/serve.command.js';

const program = new Command('kiln').description('Kiln: self-hosted, OctoAI-compatible Stable Diffusion rendering');

program.command('start').description('API + one worker (+ a local Redis when none answers)').action(startCommand);
program.command('api').description('the API only').action(apiCommand);
program.command('worker').description('a render worker only (what GPU machines run)').action(workerCommand);

program
  .command('render')
  .description('one generation in-process, no Redis: writes 0.png, 1.png, … and result.json')
  .requiredOption('--model <dir>', 'model folder in the diffusers ONNX layout (SD1.5 or SD3)')
  .requiredOption('--out <dir>', 'output folder')
  .requiredOption('--prompt <text>')
  .option('--negative-prompt <text>')
  .option('--prompt-2 <text>', "SD3: the second text encoder's prompt")
  .option('--negative-prompt-2 <text>', "SD3: the second text encoder's negative prompt")
  .option('--style-preset <name>', 'a named prompt template (GET /v1/style-presets lists them)')
  .addOption(new Option('--sampler <name>').choices([...SD15_SAMPLERS, ...SD3_SAMPLERS]))
  .option('--cfg-scale <n>')
  .option('--steps <n>')
  .option('--num-images <n>')
  .option('--seed <seed>', 'an integer, or a comma-separated list (null for random)')
  .addOption(new Option('--image-encoding <enc>').choices(['png', 'jpeg']))
  .option('--width <n>')
  .option('--height <n>')
  .option('--init-image <file>')
  .option('--strength <n>')
  .option('--mask-image <file>')
  .option('--outpainting')
  .option('--mask-blur <px>', 'Gaussian blur of the mask (Kiln extension)')
  .option('--inpaint-full-res', 'render the region around the mask at full size (Kiln extension)')
  .option('--inpaint-full-res-padding <px>', 'context around the mask with --inpaint-full-res')
  .option('--no-inpaint-paste-original', 'keep the raw decode outside the mask (default: paste the original back)')
  .option('--checkpoint <dir-or-name>')
  .option('--vae <dir-or-name>')
  .option('--loras <file-or-name=weight,...>')
  .option('--textual-inversions <file-or-name=trigger,...>')
  .option('--clip-skip <n>')
  .option(
    '--controlnet <file-dir-or-name,...>',
    'ControlNet(s): model.onnx or its folder, library:<name>, model:controlnet',
  )
  .option('--controlnet-image <file,...>', 'conditioning image(s), one per ControlNet')
  .option('--controlnet-conditioning-scale <n,...>', 'ControlNet strength 0..2 (default 1), one or one per ControlNet')
  .option('--controlnet-early-stop <n,...>', 'fraction of steps the ControlNet acts on, 0..1 (default 1)')
  .option(
    '--controlnet-preprocess',
    'turn a photo into the conditioning image (canny, scribble, grayscale ControlNets)',
  )
  .option('--micro-batch <n>', 'images per UNet call', '4')
  .addOption(
    new Option('--rng <source>', 'cpu = torch CPU generator (diffusers), nv = A1111 NV (CUDA randn)')
      .choices(['cpu', 'nv'])
      .default('cpu'),
  )
  .action(renderCommand);

program
  .command('batch <file>')
  .description(
    'submit a .jsonl or .csv file to a running Kiln and download the images into a dataset folder (resumable)',
  )
  .requiredOption('--out <dir>', 'dataset folder: images/ and manifest.jsonl')
  .option('--url <url>', 'the Kiln API (else KILN_URL, else http://127.0.0.1:8080)')
  .option('--api-key <key>', 'API key, sent as Authorization: Bearer (else KILN_API_KEY)')
  .option('--seeds <range>', 'CSV: seeds per prompt row, e.g. 0-9, 42, 1,5,9 (default 0)')
  .option('--steps <n>', 'CSV: default steps')
  .option('--width <n>', 'CSV: default width')
  .option('--height <n>', 'CSV: default height')
  .addOption(new Option('--sampler <name>', 'CSV: default sampler').choices([...SD15_SAMPLERS]))
  .option('--cfg-scale <n>', 'CSV: default guidance scale')
  .option('--negative-prompt <text>', 'CSV: default negative prompt')
  .option('--checkpoint <name>', 'CSV: default model')
  .addOption(new Option('--image-encoding <enc>', 'CSV: image encoding (default png)').choices(['png', 'jpeg']))
  .option('--poll <ms>', 'how often to look for finished items', '1000')
  .option('--concurrency <n>', 'downloads at once', '4')
  .option('--no-progress', 'no progress bar')
  .action(batchCommand);

const models = program.command('models').description('model folders');
models
  .command('make-tiny <dir>')
  .description(
    'write a random-weight model in the diffusers ONNX layout (tiny, or real SD dimensions with --full-size)',
  )
  .option('--family <family>', 'sd15 or sd3', 'sd15')
  .option('--full-size', 'real SD1.5 dimensions, for benchmarks (~3.4 GB fp32)')
  .option('--fp16', 'float16 weights and I/O')
  .option('--inpainting', 'a 9-channel inpainting UNet')
  .option('--controlnet', 'sd15: also controlnet/model.onnx and a UNet with ControlNet residual inputs')
  .option('--no-t5', 'sd3: leave out text_encoder_3 (T5); Kiln then uses zeros for its embeddings')
  .option('--seed <n>', 'weights seed', '0')
  .action(makeTinyCommand);

program.parseAsync().catch((err: Error) => {
  console.error(`kiln: ${err.message}`);
  process.exit(1);
});
