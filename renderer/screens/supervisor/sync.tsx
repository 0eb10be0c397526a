/** Synchronization as the station reports it (not configured is said plainly). */
import { useTranslation } from 'react-i18next';
import { CallError } from '../../components/call-error.tsx';
import { SyncBadge } from '../../components/sync-badge.tsx';
import { useLoad } from '../../components/use-call.ts';

export function SyncScreen() {
  const { t } = useTranslation();
  const sync = useLoad('status.sync', {});
  return (
    <div>
      <h1>{t('supervisor.sync')}</h1>
      <CallError error={sync.error} />
      <div className="panel">
        <SyncBadge />
        <button type="button" onClick={() => void sync.run({})}>
          {t('app.refresh')}
        </button>
      </div>
    </div>
  );
}
