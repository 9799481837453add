import { describe, expect, it } from 'vitest';
import { resolveSd15Config } from './sd15.config.js';
import { buildTextEncoder } from './text-encoder.graph.js';
import { buildUnet } from './unet.graph.js';
import { buildVaeDecoder, buildVaeEncoder } from './vae.graph.js';

describe('SD1.5 configuration', () => {
  it('full size has exactly SD1.5’s parameter counts (graphs are built, no weights generated)', () => {
    const config = resolveSd15Config({ fullSize: true });
    const parameters = (bytes: number) => bytes / 4;
    // CLIP ViT-L/14 text tower, SD1.5 UNet2DConditionModel, AutoencoderKL encoder(+quant_conv) and decoder(+post_quant_conv).
    expect(parameters(buildTextEncoder(config.text, 'float32', 0).initializerBytes())).toBe(123_060_480);
    expect(parameters(buildUnet(config.unet, 'float32', 0).initializerBytes())).toBe(859_520_964);
    expect(parameters(buildVaeEncoder(config.vae, 'float32', 0).initializerBytes())).toBe(34_163_664);
    expect(parameters(buildVaeDecoder(config.vae, 'float32', 0).initializerBytes())).toBe(49_490_199);
    expect(buildUnet(config.unet, 'float16', 0).initializerBytes()).toBe(859_520_964 * 2);
  });

  it('resolves SD1.5’s architecture for full size', () => {
    const config = resolveSd15Config({ fullSize: true, unetInChannels: 9 });
    expect(config.text).toMatchObject({
      hidden: 768,
      layers: 12,
      heads: 12,
      intermediate: 3072,
      vocabSize: 49408,
      maxPositions: 77,
    });
    expect(config.unet).toMatchObject({
      inChannels: 9,
      blockChannels: [320, 640, 1280, 1280],
      layersPerBlock: 2,
      heads: 8,
      crossAttentionDim: 768,
      attentionPerBlock: [true, true, true, false],
    });
    expect(config.vae).toMatchObject({ blockChannels: [128, 256, 512, 512], layersPerBlock: 2, latentChannels: 4 });
  });

  it('lets options override the defaults and ties the text width to cross-attention', () => {
    const config = resolveSd15Config({ blockChannels: [16, 32, 48], crossAttentionDim: 24, textLayers: 2, fp16: true });
    expect(config.precision).toBe('float16');
    expect(config.text).toMatchObject({ hidden: 24, layers: 2 });
    expect(config.unet).toMatchObject({
      blockChannels: [16, 32, 48],
      crossAttentionDim: 24,
      attentionPerBlock: [false, false, true],
    });
    expect(48 % config.unet.heads).toBe(0);
  });

  it('rejects invalid options', () => {
    expect(() => resolveSd15Config({ unetInChannels: 5 as 4 })).toThrow(/unetInChannels/);
    expect(() => resolveSd15Config({ blockChannels: [] })).toThrow(/blockChannels/);
    expect(() => resolveSd15Config({ textLayers: 0 })).toThrow(/textLayers/);
  });
});
