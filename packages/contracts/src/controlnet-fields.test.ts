import { describe, expect, it } from 'vitest';
import { controlNetPreprocessorFor } from './controlnet-fields.js';
import { parseGenerateRequest } from './generate-request.schema.js';
import { toJobRequest } from './job-request.js';

const IMAGE = 'aGVsbG8=';
const parse = (extra: Record<string, unknown>, family: 'sd15' | 'sd3' = 'sd15') =>
  parseGenerateRequest(family, { prompt: 'a cat', ...extra });

function errorAt(extra: Record<string, unknown>, family: 'sd15' | 'sd3' = 'sd15') {
  const result = parse(extra, family);
  if (result.success) throw new Error('expected a validation error');
  return result.body.detail.map((d) => ({ loc: d.loc.join('.'), msg: d.msg }));
}

function jobOf(extra: Record<string, unknown>) {
  const result = parse(extra);
  if (!result.success) throw new Error(JSON.stringify(result.body.detail));
  const job = toJobRequest(result.data);
  if (job.family !== 'sd15') throw new Error('expected sd15');
  return job.request;
}

describe('ControlNet request fields', () => {
  it('normalises one ControlNet with its defaults (scale 1, early stop 1, no preprocessing)', () => {
    expect(jobOf({ controlnet: 'canny', controlnet_image: IMAGE }).controlnets).toEqual([
      { name: 'canny', scale: 1, early_stop: 1 },
    ]);
    expect(jobOf({}).controlnets).toBeUndefined();
  });

  it('maps lists like MultiControlNet: one value for all, or one per entry; preprocessor from the name', () => {
    const request = jobOf({
      controlnet: ['library:sd15-canny', 'depth'],
      controlnet_image: [IMAGE, IMAGE],
      controlnet_conditioning_scale: 0.5,
      controlnet_early_stop: [1, 0.4],
      controlnet_preprocess: [true, false],
    });
    expect(request.controlnets).toEqual([
      { name: 'library:sd15-canny', scale: 0.5, early_stop: 1, preprocess: 'canny' },
      { name: 'depth', scale: 0.5, early_stop: 0.4 },
    ]);
  });

  it('refuses each bad input with a 422 at the field to change', () => {
    expect(errorAt({ controlnet: 'canny' })).toEqual([expect.objectContaining({ loc: 'body.controlnet_image' })]);
    expect(errorAt({ controlnet_image: IMAGE })[0].loc).toBe('body.controlnet_image');
    expect(errorAt({ controlnet_conditioning_scale: 0.5 })[0].loc).toBe('body.controlnet_conditioning_scale');
    expect(errorAt({ controlnet: 'canny', controlnet_image: IMAGE, controlnet_conditioning_scale: 2.5 })[0].loc).toBe(
      'body.controlnet_conditioning_scale',
    );
    expect(errorAt({ controlnet: 'canny', controlnet_image: IMAGE, controlnet_conditioning_scale: -1 })[0].loc).toBe(
      'body.controlnet_conditioning_scale',
    );
    expect(errorAt({ controlnet: 'canny', controlnet_image: IMAGE, controlnet_early_stop: 1.5 })[0].loc).toBe(
      'body.controlnet_early_stop',
    );
    expect(errorAt({ controlnet: ['a', 'b'], controlnet_image: [IMAGE] })[0].loc).toBe('body.controlnet_image');
    expect(
      errorAt({ controlnet: ['a', 'b'], controlnet_image: [IMAGE, IMAGE], controlnet_early_stop: [1, 1, 1] })[0].loc,
    ).toBe('body.controlnet_early_stop');
    expect(errorAt({ controlnet: '../etc', controlnet_image: IMAGE })[0].loc).toBe('body.controlnet');
    expect(errorAt({ controlnet: 'canny', controlnet_image: IMAGE }, 'sd3')[0].loc).toBe('body.controlnet');
  });

  it('refuses preprocessing for ControlNets whose preprocessor is a model, or unknown', () => {
    const depth = errorAt({
      controlnet: 'control_v11f1p_sd15_depth',
      controlnet_image: IMAGE,
      controlnet_preprocess: true,
    });
    expect(depth[0].loc).toBe('body.controlnet_preprocess');
    expect(depth[0].msg).toMatch(/depth map, whose preprocessor is a model/);
    const unknown = errorAt({ controlnet: 'model:controlnet', controlnet_image: IMAGE, controlnet_preprocess: true });
    expect(unknown[0].msg).toMatch(/cannot tell which preprocessor/);
    expect(jobOf({ controlnet: 'depth', controlnet_image: IMAGE, controlnet_preprocess: false }).controlnets).toEqual([
      { name: 'depth', scale: 1, early_stop: 1 },
    ]);
  });

  it('reads the preprocessor from published ControlNet names', () => {
    expect(controlNetPreprocessorFor('control_v11p_sd15_canny')).toEqual({ kind: 'builtin', preprocessor: 'canny' });
    expect(controlNetPreprocessorFor('library:sd-controlnet-scribble')).toEqual({
      kind: 'builtin',
      preprocessor: 'scribble',
    });
    expect(controlNetPreprocessorFor('recolor-grey')).toEqual({ kind: 'builtin', preprocessor: 'grayscale' });
    expect(controlNetPreprocessorFor('control_v11p_sd15_openpose')).toEqual({ kind: 'needs_model', what: 'openpose' });
    expect(controlNetPreprocessorFor('my-net')).toEqual({ kind: 'unknown' });
  });
});
