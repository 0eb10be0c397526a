/** The device's events and status in the operator's words (the console and the window). */
import type { DeviceEvent, DeviceStatus } from '../../drivers/device-client.ts';
import type { StationLanguage } from '../intake/messages.ts';

const EVENT_TEXT: Record<string, Record<StationLanguage, string>> = {
  COVER_OPENED: { en: 'the printer cover is open', es: 'la tapa de la impresora está abierta' },
  COVER_CLOSED: { en: 'the printer cover is closed', es: 'la tapa de la impresora está cerrada' },
  JAM: { en: 'a booklet is jammed in the printer', es: 'una libreta está atascada' },
  JAM_CLEARED: { en: 'the jam is cleared', es: 'el atasco se ha despejado' },
  RIBBON_LOW: { en: 'the ribbon is running low', es: 'queda poca cinta' },
  RIBBON_OUT: { en: 'the ribbon is used up', es: 'la cinta se ha agotado' },
  RIBBON_REPLACED: { en: 'the ribbon was replaced', es: 'se ha cambiado la cinta' },
  INK_LOW: { en: 'the ink is running low', es: 'queda poca tinta' },
  INK_OUT: { en: 'the ink is used up', es: 'la tinta se ha agotado' },
  HOPPER_EMPTY: {
    en: 'the input hopper is empty',
    es: 'la bandeja de entrada está vacía',
  },
  HOPPER_LOADED: { en: 'booklets were loaded', es: 'se han cargado libretas' },
  REJECT_TRAY_FULL: {
    en: 'the reject tray is full: empty it',
    es: 'la bandeja de rechazo está llena: vacíela',
  },
};

/** Events after which work waits for the operator, and what they must do. */
const PAUSES: Record<string, Record<StationLanguage, string>> = {
  COVER_OPENED: { en: 'close the printer cover', es: 'cierre la tapa de la impresora' },
  JAM: {
    en: 'open the cover, remove the jammed booklet, close the cover',
    es: 'abra la tapa, retire la libreta atascada y cierre la tapa',
  },
  RIBBON_OUT: { en: 'replace the ribbon', es: 'cambie la cinta' },
  INK_OUT: { en: 'replace the ink', es: 'cambie la tinta' },
  REJECT_TRAY_FULL: { en: 'empty the reject tray', es: 'vacíe la bandeja de rechazo' },
};

/** Status flags that hold work, keyed to the event that raised them. */
const FLAG_PAUSE: Record<string, string> = {
  COVER_OPEN: 'COVER_OPENED',
  JAM: 'JAM',
  RIBBON_OUT: 'RIBBON_OUT',
  INK_OUT: 'INK_OUT',
  REJECT_TRAY_FULL: 'REJECT_TRAY_FULL',
};

export function describeEvent(ev: DeviceEvent, lang: StationLanguage): string {
  return EVENT_TEXT[ev.name]?.[lang] ?? ev.name;
}

export function pauseInstruction(eventName: string, lang: StationLanguage): string | undefined {
  return PAUSES[eventName]?.[lang];
}

/** The first raised flag that holds work, as { cause, instruction }; null when none does. */
export function pauseOf(
  s: DeviceStatus,
  lang: StationLanguage,
): { cause: string; instruction: string } | null {
  for (const [flag, on] of Object.entries(s.flags)) {
    const ev = FLAG_PAUSE[flag];
    if (on && ev) return { cause: ev, instruction: PAUSES[ev]![lang] };
  }
  return null;
}

export function describeStatus(s: DeviceStatus): string {
  const on = Object.entries(s.flags)
    .filter(([, v]) => v)
    .map(([k]) => k);
  return `${on.length ? on.join(', ') : 'ready'}; booklet position: ${s.position}`;
}
