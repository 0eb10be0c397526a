import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'node_modules/',
      'dist/',
      'dist-electron/',
      '.electron-dev/',
      '.cache/',
      'renderer/dist/',
      'test/screenshots/',
      'coverage/',
      '**/fixtures/**',
    ],
  },
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
  {
    // electron/ is a thin shell: the station core and the IPC contract, never the drivers,
    // the database or the simulator directly (development-devices.ts is the one door to the
    // simulator, swapped out when packaging), and never the browser-mode bridge.
    files: ['electron/**/*.ts'],
    ignores: ['**/*.test.ts', 'electron/development-devices.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/drivers/**',
                '**/db/**',
                '**/mrtd/**',
                '**/simulator/**',
                '**/cli/**',
                '**/renderer/**',
                '**/central/**',
                '**/station/bridge/**',
              ],
              message:
                'electron/ drives the station core through the IPC contract (docs/desktop.md)',
            },
          ],
        },
      ],
    },
  },
  {
    // renderer/ runs in the browser: it may import the IPC contract's types only (GitHub
    // Desktop's rule: no way around the typed layer), and nothing of Node or the station.
    files: ['renderer/**/*.{ts,tsx}'],
    languageOptions: {
      globals: {
        window: 'readonly',
        document: 'readonly',
        navigator: 'readonly',
        location: 'readonly',
        localStorage: 'readonly',
        sessionStorage: 'readonly',
        WebSocket: 'readonly',
        MessageEvent: 'readonly',
        CloseEvent: 'readonly',
        Event: 'readonly',
        EventTarget: 'readonly',
        KeyboardEvent: 'readonly',
        MouseEvent: 'readonly',
        FocusEvent: 'readonly',
        HTMLElement: 'readonly',
        HTMLInputElement: 'readonly',
        HTMLButtonElement: 'readonly',
        HTMLDivElement: 'readonly',
        HTMLFormElement: 'readonly',
        HTMLSelectElement: 'readonly',
        HTMLTextAreaElement: 'readonly',
        Element: 'readonly',
        Node: 'readonly',
        Blob: 'readonly',
        File: 'readonly',
        FileReader: 'readonly',
        URLSearchParams: 'readonly',
        fetch: 'readonly',
        requestAnimationFrame: 'readonly',
        cancelAnimationFrame: 'readonly',
        ResizeObserver: 'readonly',
        getComputedStyle: 'readonly',
        performance: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        queueMicrotask: 'readonly',
      },
    },
    ignores: ['**/*.test.ts', '**/*.test.tsx', 'renderer/vite.config.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [
                '**/station/**',
                '**/drivers/**',
                '**/db/**',
                '**/cli/**',
                '**/electron/**',
                '**/simulator/**',
                '**/mrtd/**',
                '**/central/**',
                'node:*',
                'electron',
              ],
              message: 'the renderer talks to the station only through contracts/ipc.ts (types)',
            },
          ],
        },
      ],
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/contracts/**'],
              allowTypeImports: true,
              message: 'the renderer imports the IPC contract with `import type` only',
            },
          ],
        },
      ],
    },
  },
);
