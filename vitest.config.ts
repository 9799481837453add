import { defineConfig } from 'vitest/config';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));
// Tests import workspace packages from source, so `vitest` never needs a stale build.
const alias = {
  // A package's subpath entry goes before the package (the first matching alias wins).
  '@kiln/diffusion/asset-check': `${root}packages/diffusion/src/asset-check.ts`,
  ...Object.fromEntries(
    ['packages', 'apps'].flatMap((dir) =>
      readdirSync(`${root}${dir}`).map((name) => [`@kiln/${name}`, `${root}${dir}/${name}/src/index.ts`]),
    ),
  ),
};

export default defineConfig({
  resolve: { alias },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
