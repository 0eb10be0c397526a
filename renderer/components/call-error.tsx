/** A failed call in words: "not available on this station" is said plainly, never faked. */
import { useTranslation } from 'react-i18next';
import type { StationCallError } from '../station-client.ts';

export function CallError({ error }: { error: StationCallError | undefined }) {
  const { t } = useTranslation();
  if (!error) return null;
  const text =
    error.code === 'not-available'
      ? t('app.notAvailable', { message: error.message })
      : t('app.error', { message: error.message });
  return (
    <p className={error.code === 'not-available' ? 'note' : 'error'} role="alert">
      {text}
    </p>
  );
}
