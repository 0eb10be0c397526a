/** Stock: import a signed manifest, allocate serials here, counts, days of stock left. */
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { CallError } from '../../components/call-error.tsx';
import { useCall, useLoad } from '../../components/use-call.ts';

export function StockScreen() {
  const { t } = useTranslation();
  const count = useLoad('stock.count', {});
  const days = useLoad('stock.daysLeft', {});
  const importer = useCall('stock.importManifest');
  const allocator = useCall('stock.allocate');
  const [file, setFile] = useState<File | null>(null);
  const [spec, setSpec] = useState('');
  const [batchId, setBatchId] = useState('');
  const refresh = (): void => {
    void count.run({});
    void days.run({});
  };
  const onImport = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (!file) return;
    if (await importer.run({ text: await file.text() })) refresh();
  };
  const onAllocate = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    if (await allocator.run({ batchId: batchId.trim(), serials: spec.trim() })) refresh();
  };
  const d = days.result;
  return (
    <div>
      <h1>{t('supervisor.stock')}</h1>
      <section className="panel" aria-labelledby="counts-heading">
        <h2 id="counts-heading">{t('supervisor.counts')}</h2>
        <CallError error={count.error} />
        {count.result && (
          <>
            <p className="big" data-testid="on-hand">
              {t('supervisor.onHand', { count: count.result.onHand })}
            </p>
            <table>
              <tbody>
                {Object.entries(count.result.byState).map(([state, n]) => (
                  <tr key={state}>
                    <th scope="row">{state}</th>
                    <td>{n}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        )}
        <CallError error={days.error} />
        {d && (
          <p data-testid="days-left">
            {d.daysLeft === null
              ? t('supervisor.daysLeftNone')
              : t('supervisor.daysLeft', {
                  days: d.daysLeft.toFixed(1),
                  perDay: d.perDay.toFixed(1),
                })}
          </p>
        )}
        {d?.low && (
          <p className="warning" role="alert">
            {t('supervisor.low')}
          </p>
        )}
      </section>
      <form className="panel" aria-labelledby="import-heading" onSubmit={(e) => void onImport(e)}>
        <h2 id="import-heading">{t('supervisor.import')}</h2>
        <label htmlFor="manifest-file">{t('supervisor.importFile')}</label>
        <input
          id="manifest-file"
          type="file"
          accept=".json,application/json"
          onChange={(e) => setFile(e.target.files?.[0] ?? null)}
        />
        <button type="submit" disabled={!file || importer.busy}>
          {t('supervisor.importButton')}
        </button>
        <CallError error={importer.error} />
        {importer.result && (
          <p className="ok" role="status">
            {t('supervisor.imported', importer.result)}
          </p>
        )}
      </form>
      <form
        className="panel"
        aria-labelledby="allocate-heading"
        onSubmit={(e) => void onAllocate(e)}
      >
        <h2 id="allocate-heading">{t('supervisor.allocate')}</h2>
        <label htmlFor="allocate-batch">{t('supervisor.allocateBatch')}</label>
        <input
          id="allocate-batch"
          value={batchId}
          onChange={(e) => setBatchId(e.target.value)}
          autoComplete="off"
        />
        <label htmlFor="allocate-spec">{t('supervisor.allocateSpec')}</label>
        <input
          id="allocate-spec"
          value={spec}
          onChange={(e) => setSpec(e.target.value)}
          autoComplete="off"
        />
        <button type="submit" disabled={!spec.trim() || !batchId.trim() || allocator.busy}>
          {t('supervisor.allocateButton')}
        </button>
        <CallError error={allocator.error} />
        {allocator.result && (
          <p className="ok" role="status">
            {t('supervisor.allocated', allocator.result)}
          </p>
        )}
      </form>
    </div>
  );
}
