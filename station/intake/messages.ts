import i18next, { type i18n } from 'i18next';
import type { RefusalReason } from './reasons.ts';

/** The languages an operator can choose at the station. */
export const STATION_LANGUAGES = ['es', 'en'] as const;
export type StationLanguage = (typeof STATION_LANGUAGES)[number];

interface ReasonText {
  /** What happened, in words an operator understands. */
  reason: string;
  /** What the operator does now. */
  instruction: string;
}

type Catalog = Record<RefusalReason, ReasonText>;

const en: Catalog = {
  SERIAL_UNREADABLE: {
    reason: 'The printed serial number of this booklet could not be read.',
    instruction: 'Put the booklet aside for your supervisor. Do not write the serial by hand.',
  },
  NO_CHIP: {
    reason: 'No chip was found in this booklet.',
    instruction: 'Put the booklet aside for your supervisor.',
  },
  CHIP_UNRESPONSIVE: {
    reason: 'The chip in this booklet does not answer.',
    instruction: 'Put the booklet aside for your supervisor.',
  },
  CHIP_RECORD_INVALID: {
    reason: 'The chip of this booklet holds no valid manufacturer record.',
    instruction: 'Put the booklet aside for your supervisor.',
  },
  PRINTED_AND_CHIP_SERIAL_DIFFER: {
    reason:
      'The serial printed in this booklet ({{printedSerial}}) differs from its chip ({{chipSerial}}).',
    instruction: 'The chip may have been swapped. Put the booklet aside for your supervisor.',
  },
  FOREIGN_AGENCY: {
    reason: 'This booklet belongs to another agency ({{claimedAgency}}).',
    instruction: 'Put it aside for your supervisor. It must not be used here.',
  },
  UNKNOWN_SERIAL: {
    reason: 'Booklet {{printedSerial}} is in none of our stock deliveries.',
    instruction: 'Put it aside for your supervisor.',
  },
  CHIP_UID_MISMATCH: {
    reason: 'The chip of booklet {{printedSerial}} is not the chip the manufacturer delivered.',
    instruction: 'Put the booklet aside for your supervisor.',
  },
  NOT_ALLOCATED_TO_THIS_STATION: {
    reason: 'Booklet {{printedSerial}} is not allocated to this station.',
    instruction: 'Give it to your supervisor to return it to the right stock.',
  },
  REPORTED_LOST_OR_STOLEN: {
    reason: 'Booklet {{printedSerial}} has been reported lost or stolen.',
    instruction: 'Keep it apart and call your supervisor now.',
  },
  NOT_AVAILABLE: {
    reason: 'Booklet {{printedSerial}} cannot be used: it is {{state}}.',
    instruction: 'Put it aside for your supervisor.',
  },
  PROFILE_NOT_ACCEPTED: {
    reason: 'The chip type of this booklet ({{chipProfile}}) is not accepted by our agency.',
    instruction: 'Put the booklet aside for your supervisor.',
  },
  CHIP_ALREADY_PERSONALIZED: {
    reason: 'The chip of this booklet has already been personalized.',
    instruction: 'Put the booklet aside for your supervisor.',
  },
  TRANSPORT_KEY_UNAVAILABLE: {
    reason:
      'This station holds no transport key to check this booklet (key version {{keyVersion}}).',
    instruction: 'Put the booklet aside and call your supervisor.',
  },
  TRANSPORT_AUTH_FAILED: {
    reason: 'The chip failed the security check: it was not coded for our agency.',
    instruction: 'Put it aside for your supervisor. It must not be used here.',
  },
};

const es: Catalog = {
  SERIAL_UNREADABLE: {
    reason: 'No se pudo leer el número de serie impreso de esta libreta.',
    instruction: 'Aparte la libreta para su supervisor. No escriba el número a mano.',
  },
  NO_CHIP: {
    reason: 'No se encontró un chip en esta libreta.',
    instruction: 'Aparte la libreta para su supervisor.',
  },
  CHIP_UNRESPONSIVE: {
    reason: 'El chip de esta libreta no responde.',
    instruction: 'Aparte la libreta para su supervisor.',
  },
  CHIP_RECORD_INVALID: {
    reason: 'El chip de esta libreta no tiene un registro de fabricante válido.',
    instruction: 'Aparte la libreta para su supervisor.',
  },
  PRINTED_AND_CHIP_SERIAL_DIFFER: {
    reason:
      'El número impreso en esta libreta ({{printedSerial}}) no coincide con su chip ({{chipSerial}}).',
    instruction: 'El chip puede haber sido cambiado. Aparte la libreta para su supervisor.',
  },
  FOREIGN_AGENCY: {
    reason: 'Esta libreta pertenece a otra entidad ({{claimedAgency}}).',
    instruction: 'Apártela para su supervisor. No debe usarse aquí.',
  },
  UNKNOWN_SERIAL: {
    reason: 'La libreta {{printedSerial}} no figura en ninguna de nuestras entregas de stock.',
    instruction: 'Apártela para su supervisor.',
  },
  CHIP_UID_MISMATCH: {
    reason: 'El chip de la libreta {{printedSerial}} no es el que entregó el fabricante.',
    instruction: 'Aparte la libreta para su supervisor.',
  },
  NOT_ALLOCATED_TO_THIS_STATION: {
    reason: 'La libreta {{printedSerial}} no está asignada a esta estación.',
    instruction: 'Entréguela a su supervisor para devolverla al stock correcto.',
  },
  REPORTED_LOST_OR_STOLEN: {
    reason: 'La libreta {{printedSerial}} ha sido reportada como perdida o robada.',
    instruction: 'Manténgala aparte y llame a su supervisor ahora.',
  },
  NOT_AVAILABLE: {
    reason: 'La libreta {{printedSerial}} no puede usarse: su estado es {{state}}.',
    instruction: 'Apártela para su supervisor.',
  },
  PROFILE_NOT_ACCEPTED: {
    reason: 'El tipo de chip de esta libreta ({{chipProfile}}) no es aceptado por nuestra entidad.',
    instruction: 'Aparte la libreta para su supervisor.',
  },
  CHIP_ALREADY_PERSONALIZED: {
    reason: 'El chip de esta libreta ya fue personalizado.',
    instruction: 'Aparte la libreta para su supervisor.',
  },
  TRANSPORT_KEY_UNAVAILABLE: {
    reason:
      'Esta estación no tiene la clave de transporte para verificar esta libreta (versión {{keyVersion}}).',
    instruction: 'Aparte la libreta y llame a su supervisor.',
  },
  TRANSPORT_AUTH_FAILED: {
    reason:
      'El chip no superó la verificación de seguridad: no fue codificado para nuestra entidad.',
    instruction: 'Apártela para su supervisor. No debe usarse aquí.',
  },
};

let instance: i18n | undefined;

function translator(): i18n {
  if (!instance) {
    instance = i18next.createInstance();
    void instance.init({
      initAsync: false,
      lng: 'es',
      fallbackLng: 'en',
      resources: { en: { refusal: en }, es: { refusal: es } },
      ns: ['refusal'],
      defaultNS: 'refusal',
      interpolation: { escapeValue: false },
      returnNull: false,
    });
  }
  return instance;
}

/** The operator's message for a refusal, with what was read filled in. */
export function refusalMessage(
  reason: RefusalReason,
  lang: StationLanguage,
  facts: Record<string, string | number | undefined> = {},
): ReasonText {
  const t = translator().getFixedT(lang, 'refusal');
  const values = Object.fromEntries(
    Object.entries(facts).map(([k, v]) => [k, v === undefined ? '?' : String(v)]),
  );
  return {
    reason: t(`${reason}.reason`, values),
    instruction: t(`${reason}.instruction`, values),
  };
}

/**
 * Told after a refusal whose eject to the reject tray failed: the refused booklet is still in
 * the printer, so the operator takes it out by hand and intake stops until the printer is clear.
 */
export const EJECT_FAILED_MESSAGES: Record<StationLanguage, string> = {
  en: 'The booklet did not reach the reject tray. Take it out of the printer by hand, put it aside for your supervisor, and clear the printer before the next booklet.',
  es: 'La libreta no llegó a la bandeja de rechazo. Retírela de la impresora a mano, apártela para su supervisor y despeje la impresora antes de la siguiente libreta.',
};

/** The catalogs, for a test that every reason has every language. */
export const CATALOGS: Record<StationLanguage, Catalog> = { en, es };
