/**
 * Development mode's simulator for the window (unpackaged runs only). The packaging build
 * (scripts/build-electron.mjs --package) replaces this module with no-development-devices.ts,
 * so no simulator and no development seed is ever inside a packaged app.
 */
export { developmentDevices } from '../cli/development-devices.ts';
