import { describe, expect, it } from 'vitest';
import {
  applyStylePreset,
  isStylePresetName,
  STYLE_PRESET_NAMES,
  STYLE_PRESETS,
  styledPrompts,
} from './style-presets.js';

/** OctoAI's `SDXLStyles` enum (octoml/fern-config, fern/apis/image-gen/openapi/openapi.json), in its order. */
const OCTOAI_SDXL_STYLES = [
  'base',
  '3d-model',
  'analog-film',
  'anime',
  'cinematic',
  'comic-book',
  'Craft Clay',
  'modeling-compound',
  'digital-art',
  'enhance',
  'fantasy-art',
  'isometric',
  'line-art',
  'low-poly',
  'neon-punk',
  'origami',
  'photographic',
  'pixel-art',
  'tile-texture',
  'Advertising',
  'Food Photography',
  'Real Estate',
  'Abstract',
  'Cubist',
  'Graffiti',
  'Hyperrealism',
  'Impressionist',
  'Pointillism',
  'Pop Art',
  'Psychedelic',
  'Renaissance',
  'Steampunk',
  'Surrealist',
  'Typography',
  'Watercolor',
  'Fighting Game',
  'GTA',
  'Super Mario',
  'Minecraft',
  'Pokémon',
  'Retro Arcade',
  'Retro Game',
  'RPG Fantasy Game',
  'Strategy Game',
  'Street Fighter',
  'Legend of Zelda',
  'Architectural',
  'Disco',
  'Dreamscape',
  'Dystopian',
  'Fairy Tale',
  'Gothic',
  'Grunge',
  'Horror',
  'Minimalist',
  'Monochrome',
  'Nautical',
  'Space',
  'Stained Glass',
  'Techwear Fashion',
  'Tribal',
  'Zentangle',
  'Collage',
  'Flat Papercut',
  'Kirigami',
  'Paper Mache',
  'Paper Quilling',
  'Papercut Collage',
  'Papercut Shadow Box',
  'Stacked Papercut',
  'Thick Layered Papercut',
  'Alien',
  'Film Noir',
  'HDR',
  'Long Exposure',
  'Neon Noir',
  'Silhouette',
  'Tilt-Shift',
];

describe('style presets', () => {
  it("are exactly OctoAI's 78 SDXL style names, in its order", () => {
    expect(STYLE_PRESET_NAMES).toEqual(OCTOAI_SDXL_STYLES);
    expect(STYLE_PRESETS.map((p) => p.name)).toEqual(OCTOAI_SDXL_STYLES);
  });

  it('every positive template takes the prompt; `base` is the prompt itself', () => {
    for (const preset of STYLE_PRESETS) expect(preset.prompt, preset.name).toContain('{prompt}');
    expect(STYLE_PRESETS[0]).toEqual({ name: 'base', prompt: '{prompt}', negative_prompt: '' });
  });

  it("puts the prompt into the template and appends the negative template after the user's", () => {
    expect(styledPrompts('anime', 'a fox', 'blurry')).toEqual({
      prompt: 'anime artwork a fox . anime style, key visual, vibrant, studio anime, highly detailed',
      negative_prompt: 'blurry, photo, deformed, black and white, realism, disfigured, low contrast',
    });
    expect(styledPrompts('anime', 'a fox').negative_prompt).toBe(
      'photo, deformed, black and white, realism, disfigured, low contrast',
    );
    expect(styledPrompts('base', 'a fox', 'blurry')).toEqual({ prompt: 'a fox', negative_prompt: 'blurry' });
  });

  it('keeps `$` sequences of the prompt literal', () => {
    expect(styledPrompts('base', 'price $& $1 $$').prompt).toBe('price $& $1 $$');
  });

  it('`Craft Clay` and `modeling-compound` are one style under two names', () => {
    expect(styledPrompts('Craft Clay', 'a cat')).toEqual(styledPrompts('modeling-compound', 'a cat'));
  });
});

describe('applyStylePreset', () => {
  const request = { prompt: 'a fox', negative_prompt: 'blurry', style_preset: 'Pop Art' as const, steps: 20 };

  it('rewrites both prompts, drops style_preset and keeps every other field', () => {
    const styled = applyStylePreset(request);
    expect(styled).toEqual({ ...styledPrompts('Pop Art', 'a fox', 'blurry'), steps: 20 });
    expect(styled.prompt).toMatch(/^pop Art style a fox \. /);
    expect(styled).not.toHaveProperty('style_preset');
    expect(request.prompt).toBe('a fox'); // pure: the input is untouched
  });

  it('is idempotent: a styled request comes back as it is', () => {
    const once = applyStylePreset(request);
    expect(applyStylePreset(once)).toBe(once);
  });

  it('gives a negative prompt only where there is one to give', () => {
    expect(applyStylePreset({ prompt: 'a fox', style_preset: 'base' })).toEqual({ prompt: 'a fox' });
    expect(applyStylePreset({ prompt: 'a fox', style_preset: 'HDR' }).negative_prompt).toBe(
      styledPrompts('HDR', 'a fox').negative_prompt,
    );
  });

  it('refuses an unknown name listing the valid ones', () => {
    const bad = { prompt: 'x', style_preset: 'vaporwave' } as unknown as typeof request;
    expect(() => applyStylePreset(bad)).toThrow(/unknown style_preset "vaporwave"; valid: base, 3d-model, .*Tilt-/);
    expect(isStylePresetName('vaporwave')).toBe(false);
    expect(isStylePresetName('toString')).toBe(false);
    expect(isStylePresetName('Pokémon')).toBe(true);
  });
});
