// electron-builder's afterPack hook: flips the fuses of electron/fuses.ts in the packed
// Electron binary (before it is wrapped into the AppImage, deb or NSIS installer).
import { flipFuses } from '@electron/fuses';
import { join } from 'node:path';
import { register } from 'tsx/esm/api';

register();
const { STATION_FUSES } = await import('../electron/fuses.ts');

export default async function afterPack(context) {
  const name = context.packager.appInfo.productFilename;
  const exe =
    context.electronPlatformName === 'win32'
      ? join(context.appOutDir, `${name}.exe`)
      : join(context.appOutDir, context.packager.executableName ?? name);
  await flipFuses(exe, { ...STATION_FUSES, resetAdHocDarwinSignature: false });
}
