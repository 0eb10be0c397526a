/** Refusals to review: a job's refusal with its reason, instruction and steps. */
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { CallError } from '../../components/call-error.tsx';
import { useCall, useLoad } from '../../components/use-call.ts';

export function ReviewScreen() {
  const { t } = useTranslation();
  const day = useLoad('reconcile.day', {});
  const details = useCall('refusals.details');
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
