// ESLint for the whole workspace: typescript-eslint's `strict` rules (syntax only: the type-checked
// set needs a full program per run, too slow for this repository's CI machines), Prettier owns the
// layout (eslint-config-prettier turns the layout rules off), and the architecture's one-way
// dependencies as import rules, the same as test/dependency-rules.test.ts checks.
import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Sources the dependency rules hold for: not tests (a test may load what it checks against). */
const notTests = ['**/*.test.ts', '**/*test-helpers.ts'];

const APPS = {
  regex: '^@kiln/(api|worker|cli)$',
  message: 'packages never import apps: dependencies point apps → packages.',
};
const SERVICE = {
  regex: '^(express|bullmq|ioredis|pino|@kiln/(queue|storage|config|contracts|webhooks|state|jobs))',
  message: 'the diffusion core knows nothing of HTTP, Redis, queues, storage or configuration.',
};
const ONNX = { regex: '^onnxruntime-node', message: 'onnxruntime-node has one home: packages/diffusion/src/models.' };
const SHARP = { regex: '^sharp', message: 'sharp has one home: packages/diffusion/src/image.' };
const API_FORBIDDEN = {
  // Only the core's upload checks, which load neither onnxruntime nor sharp (test/dependency-rules.test.ts).
  regex: '^(onnxruntime-node|sharp|@kiln/(diffusion(?!/asset-check$)|testkit))',
  message: 'the API never loads ONNX, an image codec or the diffusion core (only @kiln/diffusion/asset-check).',
};
const EXPRESS = { regex: '^express', message: 'the worker never loads Express.' };
const BROWSER = {
  regex: '^(?!\\.\\.?/|preact$|preact/hooks$)',
  message: 'the dashboard is browser code: Preact (named by its import map) and its own modules only.',
};

/**
 * One folder's import rules, for static `import` and dynamic `import()` alike. ESLint replaces (not
 * merges) a rule set again for the same file, so each entry lists everything forbidden there, and a
 * later, narrower folder repeats what still holds.
 */
const forbid = (files, ...patterns) => ({
  files,
  ignores: notTests,
  rules: {
    'no-restricted-imports': ['error', { patterns }],
    'no-restricted-syntax': [
      'error',
      ...patterns.map(({ regex, message }) => ({
        selector: `ImportExpression[source.value=/${regex.replaceAll('/', '\\/')}/]`,
        message,
      })),
    ],
  },
});

export default defineConfig(
  globalIgnores([
    '**/dist/**',
    '**/node_modules/**',
    'models/**',
    'data/**',
    '.tmp/**',
    'test/.tmp/**',
    '.bench-models/**',
    '**/fixtures/**',
    'packages/testkit/assets/**',
  ]),
  js.configs.recommended,
  tseslint.configs.strict,
  {
    languageOptions: { ecmaVersion: 2023, sourceType: 'module', globals: globals.node },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // `_`-prefixed names are deliberately unused (a destructured member left out, a callback's
      // leading parameter); anything else unused is a mistake.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },

  {
    // In a test a wrong `!` or `any` fails that test when it runs, which is what a test is for;
    // typing every HTTP body a test reads would copy the contracts. Sources keep both rules.
    files: ['**/*.test.ts', '**/*test-helpers.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },

  // ── the one-way dependencies (test/dependency-rules.test.ts) ──────────────────────────────────
  forbid(['packages/*/src/**/*.ts'], APPS, ONNX, SHARP),
  forbid(['packages/diffusion/src/**/*.ts'], APPS, SERVICE, ONNX, SHARP),
  forbid(['packages/diffusion/src/models/**/*.ts'], APPS, SERVICE, SHARP),
  forbid(['packages/diffusion/src/image/**/*.ts'], APPS, SERVICE, ONNX),
  forbid(['apps/api/src/**/*.ts'], API_FORBIDDEN),
  forbid(['apps/worker/src/**/*.ts'], EXPRESS, ONNX, SHARP),
  forbid(['apps/cli/src/**/*.ts'], ONNX, SHARP),
  forbid(['apps/ui/src/**/*.{ts,tsx}'], BROWSER),
  {
    // packages/config is the one reader of the environment; everything else is handed its config.
    files: ['packages/*/src/**/*.ts', 'apps/*/src/**/*.ts'],
    ignores: ['packages/config/**', ...notTests],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'env', message: 'only packages/config reads the environment.' },
      ],
    },
  },

  prettier,
);
