/** Refusals to review: a job's refusal with its reason, instruction and steps. */
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { CallError } from '../../components/call-error.tsx';
import { useCall, useLoad } from '../../components/use-call.ts';

export function ReviewScreen() {
  const { t } = useTranslation();
  const day = useLoad('reconcile.day', {});
  const details = useCall('refusals.details');
  const refusals = useLoad('refusals.list', {});
  const recovery = useLoad('recovery.list', {});
  const [jobId, setJobId] = useState('');
  const onLookup = (e: FormEvent): void => {
    e.preventDefault();
    const n = Number(jobId);
    if (Number.isInteger(n) && n > 0) void details.run({ jobId: n });
  };
  const d = details.result;
  return (
    <div>
      <h1>{t('supervisor.review')}</h1>
      <CallError error={day.error} />
      {day.result && (
        <section className="panel">
          <h2>{t('supervisor.refusedBy')}</h2>
          {Object.keys(day.result.causes.refused).length === 0 ? (
            <p>{t('supervisor.noCauses')}</p>
          ) : (
            <ul>
              {Object.entries(day.result.causes.refused).map(([cause, n]) => (
                <li key={cause}>
                  {cause}: {n}
                </li>
              ))}
            </ul>
          )}
        </section>
      )}
      <section className="panel" aria-labelledby="refusals-heading">
        <h2 id="refusals-heading">{t('supervisor.refusals')}</h2>
        <CallError error={refusals.error} />
        {refusals.result?.length === 0 && <p>{t('supervisor.noneYet')}</p>}
        {!!refusals.result?.length && (
          <table data-testid="refusals">
            <thead>
              <tr>
                <th scope="col">{t('supervisor.reviewCols.job')}</th>
                <th scope="col">{t('supervisor.reviewCols.serial')}</th>
                <th scope="col">{t('supervisor.reviewCols.reason')}</th>
                <th scope="col">{t('supervisor.reviewCols.at')}</th>
              </tr>
            </thead>
            <tbody>
              {refusals.result.map((f) => (
                <tr key={f.jobId}>
                  <td>{f.jobId}</td>
                  <td>{f.serial ?? ''}</td>
                  <td>{f.message}</td>
                  <td>{f.at}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section className="panel" aria-labelledby="recovery-heading">
        <h2 id="recovery-heading">{t('supervisor.recovery')}</h2>
        <CallError error={recovery.error} />
        {recovery.result?.length === 0 && <p>{t('supervisor.noneYet')}</p>}
        {!!recovery.result?.length && (
          <table>
            <thead>
              <tr>
                <th scope="col">{t('supervisor.reviewCols.job')}</th>
                <th scope="col">{t('supervisor.reviewCols.serial')}</th>
                <th scope="col">{t('supervisor.reviewCols.status')}</th>
                <th scope="col">{t('supervisor.reviewCols.decision')}</th>
                <th scope="col">{t('supervisor.reviewCols.at')}</th>
              </tr>
            </thead>
            <tbody>
              {recovery.result.map((d) => (
                <tr key={d.jobId}>
                  <td>{d.jobId}</td>
                  <td>{d.serial ?? ''}</td>
                  <td>{d.status}</td>
                  <td>{d.decision}</td>
                  <td>{d.at}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <form className="panel" onSubmit={onLookup}>
        <label htmlFor="review-job">{t('supervisor.reviewJob')}</label>
        <input
          id="review-job"
          inputMode="numeric"
          value={jobId}
          onChange={(e) => setJobId(e.target.value)}
        />
        <button type="submit">{t('supervisor.reviewLookup')}</button>
      </form>
      <CallError error={details.error} />
      {d && (
        <section className="panel refusal">
          <h2>
            {t('refusal.heading')} · {d.serial ?? ''}
          </h2>
          <dl className="facts">
            <dt>{t('refusal.reason')}</dt>
            <dd>{d.message}</dd>
            <dt>{t('refusal.todo')}</dt>
            <dd>{d.instruction}</dd>
          </dl>
          <ol>
            {d.steps.map((s) => (
              <li key={s.step + s.at}>
                {s.at} {s.step}
              </li>
            ))}
          </ol>
        </section>
      )}
    </div>
  );
}
