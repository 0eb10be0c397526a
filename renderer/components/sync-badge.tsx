/** Always on screen: online or offline, records waiting, and the offline allowance left. */
import { useTranslation } from 'react-i18next';
import { useStation } from '../store.ts';

export function SyncBadge() {
  const { t } = useTranslation();
  const sync = useStation((s) => s.sync);
  let label: string;
  let tone: string;
  if (!sync) {
    label = t('badge.unknown');
    tone = 'unknown';
  } else if (sync.state === 'online') {
    label = t('badge.online');
    tone = 'online';
  } else if (sync.state === 'offline') {
    label = t('badge.offline');
    tone = 'offline';
  } else {
    label = t('badge.notConfigured');
    tone = 'unknown';
  }
  return (
    <div
      className={`badge badge-${tone}`}
      role="status"
      aria-live="polite"
      data-testid="sync-badge"
    >
      <strong>{label}</strong>
      {sync && (
        <>
          <span data-testid="sync-waiting">{t('badge.waiting', { count: sync.waiting })}</span>
          <span>
            {sync.offlineAllowanceLeft === null
              ? t('badge.allowanceUnknown')
              : t('badge.allowance', { count: sync.offlineAllowanceLeft })}
          </span>
        </>
      )}
    </div>
  );
}
