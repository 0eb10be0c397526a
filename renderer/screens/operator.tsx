/** The operator's screen: the queue, the next job, its live steps, refusals, pauses, the device. */
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { CallError } from '../components/call-error.tsx';
import { DataPagePreview } from '../components/data-page-preview.tsx';
import { DevicePanel } from '../components/device-panel.tsx';
import { JobSteps } from '../components/job-steps.tsx';
import { PausePanel } from '../components/pause.tsx';
import { RefusalPanel } from '../components/refusal.tsx';
import { useCall } from '../components/use-call.ts';
import { useShortcut } from '../components/use-shortcut.ts';
import { useStation } from '../store.ts';

export function OperatorScreen() {
  const { t } = useTranslation();
  const role = useStation((s) => s.session?.role);
  const stock = useStation((s) => s.stock);
  const outcome = useStation((s) => s.outcome);
  const personalized = useStation((s) => s.personalized);
  const preview = useStation((s) => s.preview);
  const set = useStation((s) => s.set);
  const canQueue = role === 'operator' || role === 'supervisor';
  const queue = useCall('queue.list');
  const personalize = useCall('personalize.next');
  const intake = useCall('intake.next');
  const busy = personalize.busy || intake.busy;

  const { run: loadQueue } = queue;
  useEffect(() => {
    if (canQueue) void loadQueue({});
  }, [canQueue, loadQueue]);

  const next = async (): Promise<void> => {
    if (busy) return;
    await personalize.run({});
    if (canQueue) void loadQueue({});
  };
  const takeIn = async (): Promise<void> => {
    if (busy) return;
    const r = await intake.run({ count: 1 });
    const last = r?.outcomes.at(-1);
    if (last) set({ outcome: last });
  };
  useShortcut('n', () => void next(), canQueue);
  useShortcut('i', () => void takeIn());
  useShortcut('d', () => set({ outcome: null }));

  return (
    <div className="operator">
      <h1>{t('operator.heading')}</h1>
      <PausePanel />
      <RefusalPanel />
      <div className="actions">
        {canQueue && (
          <button type="button" onClick={() => void next()} disabled={busy}>
            {t('operator.personalizeNext')}
          </button>
        )}
        <button type="button" onClick={() => void takeIn()} disabled={busy}>
          {t('operator.intakeNext')}
        </button>
      </div>
      <CallError error={personalize.error} />
      <CallError error={intake.error} />
      <div aria-live="polite" data-testid="last-outcome">
        {outcome?.decision === 'accepted' && (
          <p className="ok">{t('operator.accepted', { serial: outcome.serial ?? '' })}</p>
        )}
        {personalized && (
          <p
            className={personalized.outcome === 'issued' ? 'ok big' : 'warning big'}
            data-testid="perso-outcome"
            data-outcome={personalized.outcome}
          >
            {personalized.outcome === 'no-application'
              ? t('operator.noApplication')
              : t(`operator.perso.${personalized.outcome}`, {
                  serial: personalized.serial ?? '',
                  documentNumber: personalized.documentNumber ?? '',
                  step: personalized.step ?? '',
                  answer: personalized.answer ?? '',
                })}
          </p>
        )}
      </div>
      <div className="columns">
        <JobSteps />
        <DevicePanel />
      </div>
      <DataPagePreview svg={preview?.svg ?? null} />
      {stock && <p>{t('operator.stock', { count: stock.onHand })}</p>}
      {canQueue && (
        <section aria-labelledby="queue-heading" className="panel">
          <h2 id="queue-heading">{t('operator.queue')}</h2>
          <CallError error={queue.error} />
          {queue.result && queue.result.length === 0 && <p>{t('operator.queueEmpty')}</p>}
          {queue.result && queue.result.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('operator.queueCols.id')}</th>
                  <th scope="col">{t('operator.queueCols.received')}</th>
                  <th scope="col">{t('operator.queueCols.document')}</th>
                  <th scope="col">{t('operator.queueCols.state')}</th>
                  <th scope="col">{t('operator.queueCols.taken')}</th>
                </tr>
              </thead>
              <tbody>
                {queue.result.map((a) => (
                  <tr key={a.id}>
                    <td>{a.id}</td>
                    <td>{a.receivedAt}</td>
                    <td>
                      {a.documentCode} {a.issuingState}
                    </td>
                    <td>{a.status}</td>
                    <td>{a.takenBy ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      )}
    </div>
  );
}
