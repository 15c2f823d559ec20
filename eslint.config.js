// Lint configuration: typescript-eslint's type-checked rules over the TypeScript sources and
// tests, the plain JavaScript recommended set over the .mjs scripts, benches and test helpers.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

// `_name` marks a binding kept for its position (callback parameters); a property named beside
// a rest element (`{ omitted, ...rest }`) is how an object is copied without it.
const UNUSED_VARS = {
  argsIgnorePattern: '^_',
  varsIgnorePattern: '^_',
  caughtErrorsIgnorePattern: '^_',
  ignoreRestSiblings: true,
};

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        project: './tsconfig.eslint.json',
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        // A `default` over a union is how a switch says "the rest, on purpose"; what the rule
        // must catch is a switch over a union that silently forgets a member.
        { considerDefaultExhaustiveForUnions: false, requireDefaultForNonUnion: false },
      ],
      '@typescript-eslint/no-floating-promises': 'error',
      // Passing a caught error on unchanged (reject(err) in a catch or an 'error' listener) is right:
      // wrapping an unknown value would hide what was thrown.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // An async function or generator without await is how a promise-returning interface is
      // implemented by synchronous code: its throws become rejections, as callers expect.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', UNUSED_VARS],
    },
  },
  {
    files: ['src/**/*.ts'],
    // A function longer than a screen says more than one thing; a longer one needs its reason in
    // an eslint-disable comment.
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
  {
    // Matching control characters is the point where output is sanitized (escapes, bidi and C0/C1
    // controls from image content) and where tests check that none got through.
    rules: { 'no-control-regex': 'off' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Tests parse JSON reports, SARIF and CLI output into `any` and assert on its shape: the
      // assertion is the type check, so typing every parsed document first would add nothing.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    rules: {
      'no-unused-vars': ['error', UNUSED_VARS],
    },
  },
);
