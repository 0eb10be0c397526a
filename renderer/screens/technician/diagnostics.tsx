/** Diagnostics: the device's identity, sensors and counters as it reports them. */
import { useTranslation } from 'react-i18next';
import { CallError } from '../../components/call-error.tsx';
import { useLoad } from '../../components/use-call.ts';

function Facts({ title, data }: { title: string; data: Record<string, unknown> }) {
  return (
    <section className="panel">
      <h2>{title}</h2>
      <dl className="facts">
        {Object.entries(data).map(([k, v]) => (
          <div key={k} className="fact">
            <dt>{k}</dt>
            <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

export function DiagnosticsScreen() {
  const { t } = useTranslation();
  const diag = useLoad('diagnostics.read', {});
  return (
    <div>
      <h1>{t('technician.diagnostics')}</h1>
      <button type="button" onClick={() => void diag.run({})} disabled={diag.busy}>
        {t('technician.read')}
      </button>
      <CallError error={diag.error} />
      {diag.result && (
        <div className="columns">
          <Facts title={t('technician.identity')} data={diag.result.identity} />
          <Facts title={t('technician.sensors')} data={diag.result.sensors} />
          <Facts title={t('technician.counters')} data={diag.result.counters} />
        </div>
      )}
    </div>
  );
}
