// Lint for correctness, not layout (that is the formatter's job): the recommended rules of eslint and
// typescript-eslint over the sources, commands, tests, benches and chaos suite. `npm test` runs it first.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeGlobals = Object.fromEntries(
  [
    'process',
    'console',
    'Buffer',
    'URL',
    'setTimeout',
    'clearTimeout',
    'setInterval',
    'clearInterval',
    'setImmediate',
    '__dirname',
    'require',
    'module',
    'exports',
  ].map((g) => [g, 'readonly']),
);

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'console/dist/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: nodeGlobals },
    rules: {
      // Replies parsed from JSON in tests and rows from untyped drivers are `any` on purpose.
      '@typescript-eslint/no-explicit-any': 'off',
      // A leading underscore marks a parameter or element kept for its position (express error handlers, regex groups).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    // Plain CommonJS scripts and config files.
    files: ['**/*.js', '**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
