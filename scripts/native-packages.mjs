// Packages with native parts: every bundle of the station's TypeScript (the Electron main
// process, scripts/build-electron.mjs; npm start's, scripts/station-bundle.mjs) leaves them as
// imports of node_modules, built for the runtime that loads them.
export const NATIVE_PACKAGES = [
  'better-sqlite3',
  'serialport',
  '@serialport/*',
  'node-hid',
  'pkcs11js',
  'graphene-pk11',
  '@resvg/resvg-js',
];
