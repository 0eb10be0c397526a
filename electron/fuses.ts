/**
 * The Electron fuses flipped in the packaged binary (electron-builder's afterPack hook,
 * scripts/after-pack.mjs): no running as plain Node, no NODE_OPTIONS, no inspector flags, the
 * app only from its asar with integrity checked, cookies encrypted, no extra file:// rights.
 */
import { FuseV1Options, FuseVersion } from '@electron/fuses';

export const STATION_FUSES = {
  version: FuseVersion.V1,
  [FuseV1Options.RunAsNode]: false,
  [FuseV1Options.EnableNodeOptionsEnvironmentVariable]: false,
  [FuseV1Options.EnableNodeCliInspectArguments]: false,
  [FuseV1Options.EnableEmbeddedAsarIntegrityValidation]: true,
  [FuseV1Options.OnlyLoadAppFromAsar]: true,
  [FuseV1Options.EnableCookieEncryption]: true,
  [FuseV1Options.GrantFileProtocolExtraPrivileges]: false,
} as const;
