/** Spanish by default, English on request; the station's own messages come translated from the core. */
import i18next from 'i18next';
import { initReactI18next } from 'react-i18next';
import { en } from './en.ts';
import { es } from './es.ts';

export const UI_LANGUAGES = ['es', 'en'] as const;
export type UiLanguage = (typeof UI_LANGUAGES)[number];

export function isUiLanguage(s: string): s is UiLanguage {
  return (UI_LANGUAGES as readonly string[]).includes(s);
}

export async function initI18n(lang: UiLanguage = 'es'): Promise<void> {
  await i18next.use(initReactI18next).init({
    lng: lang,
    fallbackLng: 'es',
    resources: { es: { translation: es }, en: { translation: en } },
    // React escapes what it renders; i18next escaping would double it.
    interpolation: { escapeValue: false },
    returnNull: false,
  });
  document.documentElement.lang = lang;
}

export async function setLanguage(lang: UiLanguage): Promise<void> {
  await i18next.changeLanguage(lang);
  document.documentElement.lang = lang;
}
