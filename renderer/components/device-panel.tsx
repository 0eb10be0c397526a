/** The device as the station reports it: connection, model, booklet position, status flags. */
import { useTranslation } from 'react-i18next';
import { useStation } from '../store.ts';

export function DevicePanel() {
  const { t } = useTranslation();
  const device = useStation((s) => s.device);
  const notes = useStation((s) => s.deviceNotes);
  const raised = device ? Object.entries(device.flags).filter(([, on]) => on) : [];
  return (
    <section aria-labelledby="device-heading" className="panel">
      <h2 id="device-heading">{t('device.heading')}</h2>
      {!device ? (
        <p>{t('app.loading')}</p>
      ) : (
        <dl className="facts">
          <dt>{t('device.flags')}</dt>
          <dd data-testid="device-state">
            {device.connected ? t('device.connected') : t('device.notConnected')}
            {': '}
            {raised.length ? raised.map(([k]) => k).join(', ') : t('device.ready')}
          </dd>
          <dt>{t('device.source')}</dt>
          <dd>{device.source}</dd>
          {device.model && (
            <>
              <dt>{t('device.model')}</dt>
              <dd>
                {device.model}
                {device.serialNumber ? ` · ${device.serialNumber}` : ''}
              </dd>
            </>
          )}
          <dt>{t('device.position')}</dt>
          <dd>{device.position}</dd>
        </dl>
      )}
      {notes.length > 0 && (
        <>
          <h3>{t('device.recent')}</h3>
          <ul className="notes">
            {notes.slice(0, 5).map((n) => (
              <li key={`${n.at}-${n.name}`}>
                <time dateTime={new Date(n.at).toISOString()}>
                  {new Date(n.at).toLocaleTimeString()}
                </time>{' '}
                {n.text}
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
  );
}
