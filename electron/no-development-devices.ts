/** What a packaged build gets instead of development-devices.ts: no simulator at all. */
import type { DevelopmentDevices } from '../station/core/open.ts';

export const developmentDevices: DevelopmentDevices | undefined = undefined;
