// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.tmp/'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', Buffer: 'readonly', console: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Other folders may import a code folder only through its index.ts.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // A subfolder's index.ts is its own surface (protocol/wire: the light protocol the agent uses).
              regex:
                '^\\.\\./(\\.\\./)*(protocol|rocks|worker|relay|upstream|agent|firmware)/(?!([\\w-]+/)*index\\.js$).+',
              message: "Import another folder only through its index.ts ('../<folder>/index.js').",
            },
          ],
        },
      ],
    },
  },
  {
    // The dashboard's page set: plain browser ES modules (uPlot is loaded by a classic script).
    files: ['upstream/dashboard/assets/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'window',
          'document',
          'location',
          'history',
          'sessionStorage',
          'fetch',
          'URL',
          'URLSearchParams',
          'performance',
          'setTimeout',
          'clearTimeout',
          'addEventListener',
          'removeEventListener',
          'uPlot',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
