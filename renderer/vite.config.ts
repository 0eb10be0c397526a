/**
 * The renderer's build: `npm run build:renderer` writes renderer/dist, loaded by Electron from
 * its custom protocol and served to the browser bridge. The output must run under a strict
 * Content-Security-Policy (script-src 'self', no inline script, no eval): Vite emits only
 * `<script type="module" src>` and `<link rel="stylesheet">`, the module-preload polyfill (an
 * inline helper in older setups) is off, and the CSP meta tag is added to the built page only
 * (the dev server's hot reload needs an inline preamble).
 */
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

export const RENDERER_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  // The browser bridge is a loopback WebSocket; Electron uses IPC and needs no connect-src.
  'connect-src ws://127.0.0.1:*',
  "base-uri 'none'",
  "form-action 'none'",
  "object-src 'none'",
].join('; ');

function cspMeta(): Plugin {
  return {
    name: 'perso-station-csp',
    apply: 'build',
    transformIndexHtml: () => [
      {
        tag: 'meta',
        attrs: { 'http-equiv': 'Content-Security-Policy', content: RENDERER_CSP },
        injectTo: 'head-prepend',
      },
    ],
  };
}

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [react(), cspMeta()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    // Every asset a file of its own: a data: URL for a font or image is fine under img-src,
    // but keeping them out of the CSS keeps the bundle report honest.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: 'es2023',
    chunkSizeWarningLimit: 1024,
  },
});
