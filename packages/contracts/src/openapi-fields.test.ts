import { describe, expect, it } from 'vitest';
import { parseGenerateRequest } from './generate-request.schema.js';
import { MODEL_FAMILIES, type ModelFamily } from './model-family.js';
import { buildOpenApiDocument } from './openapi.js';
import { FIELD_ENGINES } from './openapi-fields.js';
import { STYLE_PRESETS } from './style-presets.js';

type Json = Record<string, any>;
const schemas = buildOpenApiDocument().components.schemas as Record<string, Json>;
const COMPONENT: Record<ModelFamily, string> = { sd15: 'Sd15GenerateRequest', sd3: 'Sd3GenerateRequest' };

/**
 * For each field some engine does not honour, a value that asks for something (not "nothing"):
 * that engine must refuse it at the field. `use_refiner` has none: both of its values run no
 * refiner, which is what SD1.5 and SD3 do.
 */
const ASKING: Record<string, unknown> = {
  mask_image: 'aGk=',
  outpainting: true,
  checkpoint: 'other-model',
  clip_skip: 2,
  mask_blur: 4,
  inpaint_full_res: true,
  inpaint_full_res_padding: 8,
  inpaint_paste_original: false,
  vae: 'my-vae',
  loras: { 'my-lora': 0.5 },
  textual_inversions: { 'my-ti': 'trigger' },
  controlnet: 'sd15-canny',
  controlnet_image: 'aGk=',
  controlnet_conditioning_scale: 0.5,
  controlnet_early_stop: 0.5,
  controlnet_preprocess: true,
  high_noise_frac: 0.5,
  prompt_2: 'a second prompt',
  negative_prompt_2: 'a second negative prompt',
};

/** Whether the document shows a property as taking null: `T | null`, or null alone (a field refused but as null). */
function takesNull(property: Json): boolean {
  return property.type === 'null' || JSON.stringify(property.anyOf ?? []).includes('{"type":"null"}');
}

function refusedAt(family: ModelFamily, field: string, value: unknown): boolean {
  // With the images the inpainting fields need, so that only the field itself can be at fault.
  // And the ControlNet and its image the other ControlNet fields need.
  const controlnet = family === 'sd15' &&
    field.startsWith('controlnet') && { controlnet: 'c-canny', controlnet_image: 'aGk=' };
  const body = {
    prompt: 'p',
    init_image: 'aGk=',
    ...(family === 'sd15' && { mask_image: 'aGk=' }),
    ...controlnet,
    [field]: value,
  };
  const parsed = parseGenerateRequest(family, body, { allowAnyResolution: true });
  return !parsed.success && parsed.body.detail.some((d) => d.loc[0] === 'body' && d.loc[1] === field);
}

describe('x-kiln-engines: which engines honour each request field', () => {
  it.each(MODEL_FAMILIES)('%s: every property says which engines honour it, and whether it takes null', (family) => {
    const properties = schemas[COMPONENT[family]]!.properties as Record<string, Json>;
    expect(Object.keys(properties).sort()).toEqual(Object.keys(FIELD_ENGINES).sort());
    for (const [field, property] of Object.entries(properties)) {
      expect(property['x-kiln-engines'], field).toEqual(FIELD_ENGINES[field as keyof typeof FIELD_ENGINES].engines);
      expect(property['x-kiln-engines'].every((e: string) => (MODEL_FAMILIES as readonly string[]).includes(e))).toBe(
        true,
      );
      const nullable = takesNull(property);
      const acceptsNull = parseGenerateRequest(family, { prompt: 'p', [field]: null }).success;
      expect([field, nullable]).toEqual([field, acceptsNull]);
    }
  });

  it.each(MODEL_FAMILIES)('%s refuses, naming the field, what it is listed as not honouring', (family) => {
    let checked = 0;
    for (const [field, { engines }] of Object.entries(FIELD_ENGINES)) {
      if (engines.includes(family) || field === 'use_refiner') continue;
      expect(ASKING, field).toHaveProperty([field]);
      expect(refusedAt(family, field, ASKING[field]), `${family} ${field}`).toBe(true);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(family === 'sd15' ? 3 : 12);
  });

  it.each(MODEL_FAMILIES)(
    '%s accepts the fields it is listed as honouring, where a test value is at hand',
    (family) => {
      for (const [field, value] of Object.entries(ASKING)) {
        if (!FIELD_ENGINES[field as keyof typeof FIELD_ENGINES].engines.includes(family)) continue;
        expect(refusedAt(family, field, value), `${family} ${field}`).toBe(false);
      }
    },
  );
});

describe('GET /v1/style-presets in the document', () => {
  it('describes the list the route answers', () => {
    const list = schemas.StylePresetList!;
    expect(list.required).toEqual(['presets']);
    const item = list.properties.presets.items;
    expect(item.required).toEqual(['name', 'prompt', 'negative_prompt']);
    expect(item.properties.name.enum).toEqual(STYLE_PRESETS.map((p) => p.name));
  });
});
