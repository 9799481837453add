/**
 * OctoAI's ControlNet fields of `POST /generate/sd` (docs/controlnet.md): `controlnet` names the
 * ControlNet(s), `controlnet_image` gives each its conditioning image, `controlnet_conditioning_scale`
 * and `controlnet_early_stop` (diffusers' `control_guidance_end`) shape its effect, and
 * `controlnet_preprocess` turns a plain photo into the conditioning image where no model is needed.
 *
 * Several ControlNets, as diffusers' MultiControlNetModel: `controlnet` is a list, `controlnet_image`
 * a list of the same length; the scale, early stop and preprocess flag are one value for all or a
 * list of that length. Their residuals are summed.
 */
import { z } from 'zod';
import { nullMeansAbsent } from './request-fields.js';

export const SD15_CONTROLNET_FIELDS = [
  'controlnet',
  'controlnet_image',
  'controlnet_conditioning_scale',
  'controlnet_early_stop',
  'controlnet_preprocess',
] as const;

export type Sd15ControlNetField = (typeof SD15_CONTROLNET_FIELDS)[number];

export const CONTROLNET_DEFAULTS = { scale: 1, earlyStop: 1, preprocess: false } as const;

export const CONTROLNET_LIMITS = {
  /** ControlNets in one request (each adds a ControlNet run per step). */
  maxControlNets: 4,
  /** A1111's "control weight" range. */
  scaleMin: 0,
  scaleMax: 2,
  earlyStopMin: 0,
  earlyStopMax: 1,
} as const;

/** The prefix naming a ControlNet shipped inside the checkpoint's own folder: `model:controlnet` = `<model>/controlnet/model.onnx`. */
export const MODEL_CONTROLNET_PREFIX = 'model:';

/** A folder of the model that may hold a ControlNet: `controlnet`, `controlnet_canny`, `controlnet-depth`, … */
export const MODEL_CONTROLNET_FOLDER = /^controlnet[A-Za-z0-9._-]{0,100}$/;

/** The preprocessors Kiln runs itself (no model needed); `packages/diffusion/src/image/control-preprocess.ts`. */
export const CONTROLNET_PREPROCESSORS = ['canny', 'scribble', 'grayscale'] as const;
export type ControlNetPreprocessor = (typeof CONTROLNET_PREPROCESSORS)[number];

const L = CONTROLNET_LIMITS;

const controlNetName = z
  .string()
  .min(1)
  .max(256)
  .regex(/^(library:|model:)?[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, {
    message:
      'a ControlNet is named by an asset name (1..128 characters of A-Z a-z 0-9 . _ -), library:<name>, or ' +
      'model:<folder> for one inside the model folder',
  });

const oneOrList = <S extends z.ZodType>(item: S) => z.union([item, z.array(item).min(1).max(L.maxControlNets)]);

const base64 = z.string().min(1);

/** The ControlNet fields as `POST /generate/sd` accepts them. */
export const sd15ControlNetRequestFields = {
  controlnet: nullMeansAbsent(
    oneOrList(controlNetName)
      .optional()
      .describe(
        'ControlNet(s) steering the composition: a `controlnet` asset (`POST /v1/assets`), `library:<name>`, or ' +
          '`model:controlnet` for the ControlNet inside the model folder; a list (at most 4) for several, whose ' +
          'effects add up. Needs `controlnet_image`. SD1.5 only.',
      ),
  ),
  controlnet_image: nullMeansAbsent(
    oneOrList(base64)
      .optional()
      .describe(
        'Conditioning image(s), base64 PNG/JPEG/WebP (edges, depth, pose, scribble…), resized to the output size; ' +
          'one per `controlnet` entry.',
      ),
  ),
  controlnet_conditioning_scale: nullMeansAbsent(
    oneOrList(z.number().min(L.scaleMin).max(L.scaleMax))
      .optional()
      .meta({
        default: CONTROLNET_DEFAULTS.scale,
        description:
          'How strongly each ControlNet acts, 0..2 (0 = not at all): its residuals are multiplied by it. One value ' +
          'for all, or one per `controlnet` entry.',
      }),
  ),
  controlnet_early_stop: nullMeansAbsent(
    oneOrList(z.number().min(L.earlyStopMin).max(L.earlyStopMax))
      .optional()
      .meta({
        default: CONTROLNET_DEFAULTS.earlyStop,
        description:
          "Fraction of the steps the ControlNet acts on, 0..1 (diffusers' `control_guidance_end`): step i of N keeps " +
          'it while (i + 1) / N ≤ this; 0 = never, 1 = every step. One value for all, or one per entry.',
      }),
  ),
  controlnet_preprocess: nullMeansAbsent(
    oneOrList(z.boolean())
      .optional()
      .meta({
        default: CONTROLNET_DEFAULTS.preprocess,
        description:
          'Turn a plain photo into the conditioning image first: Canny edges for a ControlNet named …canny…, a ' +
          'scribble for …scribble…/…sketch…, grayscale for …gray…/…recolor…. ControlNets whose preprocessor needs ' +
          'a model (depth, pose, …) take ready-made conditioning images: true is refused for them.',
      }),
  ),
} satisfies Record<Sd15ControlNetField, z.ZodType>;

/** The ControlNet fields on SD3: refused by name (null is accepted: not given). */
export const sd15ControlNetFieldsRejectedBySd3 = Object.fromEntries(
  SD15_CONTROLNET_FIELDS.map((field) => [
    field,
    nullMeansAbsent(
      z
        .never({ error: `${field} is supported by SD1.5 only (POST /generate/sd); SD3 does not accept it` })
        .optional()
        .meta({ description: `SD1.5 only: \`${field}\` is rejected here (null is accepted: not given).` }),
    ),
  ]),
) as Record<Sd15ControlNetField, ReturnType<typeof nullMeansAbsent<z.ZodOptional<z.ZodNever>>>>;

/** What a name says of the preprocessor its ControlNet wants. */
export type PreprocessorVerdict =
  | { kind: 'builtin'; preprocessor: ControlNetPreprocessor }
  | { kind: 'needs_model'; what: string }
  | { kind: 'unknown' };

const BUILTIN_HINTS: readonly [RegExp, ControlNetPreprocessor][] = [
  [/canny/, 'canny'],
  [/scribble|sketch/, 'scribble'],
  [/gr[ae]y|recolou?r/, 'grayscale'],
];
const MODEL_HINTS = /(depth|midas|zoe|openpose|pose|normal|seg|mlsd|hed|softedge|lineart|shuffle|tile|ip2p|inpaint)/;

/**
 * Which preprocessor a ControlNet wants, read from its name (the convention of every published
 * ControlNet: `control_v11p_sd15_canny`, `sd-controlnet-scribble`, …).
 */
export function controlNetPreprocessorFor(name: string): PreprocessorVerdict {
  const bare = name.replace(/^(library:|model:)/, '').toLowerCase();
  for (const [pattern, preprocessor] of BUILTIN_HINTS) {
    if (pattern.test(bare)) return { kind: 'builtin', preprocessor };
  }
  const needs = MODEL_HINTS.exec(bare);
  return needs ? { kind: 'needs_model', what: needs[1] } : { kind: 'unknown' };
}

/** The ControlNet fields of a parsed request. */
export interface ControlNetRequestValues {
  controlnet?: string | string[];
  controlnet_image?: string | string[];
  controlnet_conditioning_scale?: number | number[];
  controlnet_early_stop?: number | number[];
  controlnet_preprocess?: boolean | boolean[];
}

interface Issue {
  path: (string | number)[];
  message: string;
}

const asList = <T>(v: T | T[] | undefined): T[] | undefined =>
  v === undefined ? undefined : Array.isArray(v) ? v : [v];

/** The rules that tie the ControlNet fields together; each issue names the field to change. */
export function controlNetIssues(v: ControlNetRequestValues): Issue[] {
  const issues: Issue[] = [];
  const names = asList(v.controlnet);
  const images = asList(v.controlnet_image);
  if (!names) {
    for (const field of SD15_CONTROLNET_FIELDS) {
      if (field !== 'controlnet' && v[field] !== undefined)
        issues.push({ path: [field], message: `${field} needs controlnet (the ControlNet it is for)` });
    }
    return issues;
  }
  if (!images) {
    issues.push({ path: ['controlnet_image'], message: 'controlnet needs controlnet_image (its conditioning image)' });
    return issues;
  }
  const n = names.length;
  if (images.length !== n) {
    issues.push({
      path: ['controlnet_image'],
      message: `controlnet names ${n} ControlNet(s): controlnet_image must have ${n} image(s), it has ${images.length}`,
    });
  }
  for (const field of ['controlnet_conditioning_scale', 'controlnet_early_stop', 'controlnet_preprocess'] as const) {
    const value = v[field];
    if (Array.isArray(value) && value.length !== n) {
      issues.push({
        path: [field],
        message: `${field} is a list of ${value.length}: give one value, or one per controlnet entry (${n})`,
      });
    }
  }
  const preprocess = asList(v.controlnet_preprocess) ?? [];
  names.forEach((name, i) => {
    if (!(preprocess.length === 1 ? preprocess[0] : preprocess[i])) return;
    const verdict = controlNetPreprocessorFor(name);
    if (verdict.kind === 'builtin') return;
    issues.push({
      path: Array.isArray(v.controlnet_preprocess) ? ['controlnet_preprocess', i] : ['controlnet_preprocess'],
      message:
        verdict.kind === 'needs_model'
          ? `the ${name} ControlNet needs a ${verdict.what} map, whose preprocessor is a model Kiln does not run: ` +
            'send a ready-made conditioning image with controlnet_preprocess false'
          : `Kiln cannot tell which preprocessor ${name} wants: it runs canny, scribble and grayscale for ControlNets ` +
            'whose name contains canny, scribble/sketch or gray/recolor; send a ready-made conditioning image instead',
    });
  });
  return issues;
}

/** One ControlNet of a job: every default applied, the preprocessor resolved. */
export const jobControlNetSchema = z.strictObject({
  name: controlNetName,
  scale: z.number().min(L.scaleMin).max(L.scaleMax),
  early_stop: z.number().min(L.earlyStopMin).max(L.earlyStopMax),
  preprocess: z.enum(CONTROLNET_PREPROCESSORS).optional(),
});

export type JobControlNet = z.output<typeof jobControlNetSchema>;

/** The request's ControlNets as a job carries them (a valid request: {@link controlNetIssues} found none). */
export function toJobControlNets(v: ControlNetRequestValues): JobControlNet[] | undefined {
  const names = asList(v.controlnet);
  if (!names) return undefined;
  const pick = <T>(value: T | T[] | undefined, i: number, fallback: T): T =>
    value === undefined ? fallback : Array.isArray(value) ? (value[i] ?? fallback) : value;
  return names.map((name, i) => {
    const verdict = controlNetPreprocessorFor(name);
    const preprocess = pick(v.controlnet_preprocess, i, CONTROLNET_DEFAULTS.preprocess);
    return {
      name,
      scale: pick(v.controlnet_conditioning_scale, i, CONTROLNET_DEFAULTS.scale),
      early_stop: pick(v.controlnet_early_stop, i, CONTROLNET_DEFAULTS.earlyStop),
      ...(preprocess && verdict.kind === 'builtin' && { preprocess: verdict.preprocessor }),
    };
  });
}

/** The request's conditioning images, in `controlnet` order. */
export function controlNetImages(v: ControlNetRequestValues): string[] {
  return asList(v.controlnet_image) ?? [];
}
