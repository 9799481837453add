import { describe, expect, it } from 'vitest';
import type { ValueInfo } from './onnx-session.js';
import { findUnetResidualInputs, residualSizes } from './unet-residual-inputs.js';

/** A UNet's input metadata as onnxruntime reports it: name → [batch, channels, h, w]. */
function unet(inputs: [name: string, channels: number | string][]) {
  const map = new Map<string, ValueInfo>();
  for (const name of ['sample', 'timestep', 'encoder_hidden_states']) map.set(name, { name, type: 'float32', shape: [] });
  for (const [name, channels] of inputs) map.set(name, { name, type: 'float32', shape: ['batch', channels, 'h', 'w'] });
  return { path: 'unet/model.onnx', inputs: map };
}

const SD15_CHANNELS = [320, 320, 320, 320, 640, 640, 640, 1280, 1280, 1280, 1280, 1280];

describe('UNet residual inputs', () => {
  it('finds none on a plain UNet', () => {
    expect(findUnetResidualInputs(unet([]))).toBeUndefined();
  });

  it("reads diffusers' names flattened the optimum way, ordered by index (not by listing order)", () => {
    const names = SD15_CHANNELS.map((c, i) => [`down_block_additional_residuals.${i}`, c] as [string, number]);
    const found = findUnetResidualInputs(unet([...names.reverse(), ['mid_block_additional_residual', 1280]]));
    expect(found?.down).toEqual(SD15_CHANNELS.map((_, i) => `down_block_additional_residuals.${i}`));
    expect(found?.mid).toBe('mid_block_additional_residual');
    expect(found?.downChannels).toEqual(SD15_CHANNELS);
  });

  it("reads optimum's Intel naming: _1, _3, … _21 listed first, then the bare name, which is residual 0", () => {
    const suffixed = SD15_CHANNELS.slice(1).map(
      (c, i) => [`down_block_additional_residual_${2 * i + 1}`, c] as [string, number],
    );
    const found = findUnetResidualInputs(
      unet([...suffixed, ['down_block_additional_residual', 320], ['mid_block_additional_residual', 1280]]),
    );
    expect(found?.down[0]).toBe('down_block_additional_residual');
    expect(found?.down.slice(1)).toEqual(suffixed.map(([n]) => n));
    expect(found?.downChannels).toEqual(SD15_CHANNELS);
  });

  it('refuses residuals whose order would put wider channels before narrower ones', () => {
    const names = [...SD15_CHANNELS].reverse().map((c, i) => [`down_block_additional_residuals.${i}`, c] as [string, number]);
    expect(() => findUnetResidualInputs(unet([...names, ['mid_block_additional_residual', 1280]]))).toThrow(
      /cannot tell their order/,
    );
  });

  it("gives diffusers' residual sizes: conv_in, then per block 2 resnets and a downsampler", () => {
    const sizes = residualSizes(12, 64, 64);
    expect(sizes.down.map(([h]) => h)).toEqual([64, 64, 64, 32, 32, 32, 16, 16, 16, 8, 8, 8]);
    expect(sizes.mid).toEqual([8, 8]);
    expect(residualSizes(6, 8, 8).down.map(([h]) => h)).toEqual([8, 8, 8, 4, 4, 4]);
    expect(residualSizes(12, 9, 9).mid).toEqual([2, 2]);
    // One layer per block (the testkit's tiny UNet): 2 blocks × 2 residuals.
    expect(residualSizes(4, 8, 8).down.map(([h]) => h)).toEqual([8, 8, 4, 4]);
    expect(residualSizes(4, 8, 8).mid).toEqual([4, 4]);
  });
});
