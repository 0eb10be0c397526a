/** The current job as a live step list: each step waiting, running with its percent, or done. */
import { useTranslation } from 'react-i18next';
import { JOB_STEPS, useStation, type StepState } from '../store.ts';

function stepLabel(t: (k: string) => string, step: string): string {
  const key = `operator.steps.${step}`;
  const text = t(key);
  return text === key ? step : text;
}

export function JobSteps() {
  const { t } = useTranslation();
  const job = useStation((s) => s.job);
  if (!job)
    return (
      <section aria-labelledby="job-heading" className="panel">
        <h2 id="job-heading">{t('operator.job')}</h2>
        <p>{t('operator.noJob')}</p>
      </section>
    );
  // The steps the station runs for this kind, then any it reported that we do not know.
  const known: readonly string[] = JOB_STEPS[job.kind];
  const order = [...known, ...job.steps.map((s) => s.step).filter((s) => !known.includes(s))];
  const byStep = new Map<string, StepState>(job.steps.map((s) => [s.step, s]));
  return (
    <section aria-labelledby="job-heading" className="panel">
      <h2 id="job-heading">
        {t('operator.jobTitle', { jobId: job.jobId, kind: t(`operator.kinds.${job.kind}`) })}
      </h2>
      <ol className="steps" aria-live="polite" data-testid="job-steps">
        {order.map((step) => {
          const s = byStep.get(step);
          const state = !s ? 'pending' : s.progress >= 1 ? 'done' : 'running';
          const percent = Math.round((s?.progress ?? 0) * 100);
          return (
            <li key={step} className={`step step-${state}`} data-step={step} data-state={state}>
              <span className="step-name">{stepLabel(t, step)}</span>
              <span className="step-state">{t(`operator.stepState.${state}`, { percent })}</span>
              <progress max={100} value={percent} aria-label={stepLabel(t, step)} />
            </li>
          );
        })}
      </ol>
    </section>
  );
}
