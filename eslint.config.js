import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'coverage/', '**/fixtures/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      eqeqeq: ['error', 'always'],
    },
  },
  ...[
    { files: ['station/**/*.ts'], forbidden: 'simulator' },
    { files: ['simulator/**/*.ts'], forbidden: 'station' },
  ].map(({ files, forbidden }) => ({
    files,
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/cli/**', '**/electron/**', '**/renderer/**', '**/central/**'],
              message: 'the core never imports the shells around it (docs/architecture.md)',
            },
            {
              group: [`**/${forbidden}/**`],
              message:
                'the station and the simulator never import each other (contracts/ holds what they share)',
            },
          ],
        },
      ],
    },
  })),
  {
    // iso7816/ (the APDU codec) is a leaf every layer may import: it imports nothing of ours.
    files: ['iso7816/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['../**'], message: 'iso7816/ imports only libraries' }] },
      ],
    },
  },
  {
    // Layering: the folder table in docs/architecture.md, enforced.
    files: ['mrtd/**/*.ts', 'drivers/**/*.ts', 'db/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/station/**',
                '**/cli/**',
                '**/simulator/**',
                '**/electron/**',
                '**/renderer/**',
              ],
              message: 'lower layers import only libraries (and contracts/)',
            },
          ],
        },
      ],
    },
  },
  {
    // The central office is its own program: it shares only the contracts with the station.
    files: ['central/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/station/**',
                '**/cli/**',
                '**/simulator/**',
                '**/mrtd/**',
                '**/drivers/**',
                '**/db/**',
                '**/electron/**',
                '**/renderer/**',
              ],
              message: 'central/ imports only contracts/ and libraries (docs/architecture.md)',
            },
          ],
        },
      ],
    },
  },
  {
    // contracts/ is the shared leaf every layer may import: it imports only libraries.
    files: ['contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/station/**',
                '**/cli/**',
                '**/simulator/**',
                '**/mrtd/**',
                '**/drivers/**',
                '**/db/**',
                '**/electron/**',
                '**/renderer/**',
                '**/central/**',
              ],
              message: 'contracts/ is the shared leaf: it imports only libraries',
            },
          ],
        },
      ],
    },
  },
);
