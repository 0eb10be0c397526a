/** Test jobs on test stock, and their results. */
import { useTranslation } from 'react-i18next';
import { CallError } from '../../components/call-error.tsx';
import { JobSteps } from '../../components/job-steps.tsx';
import { useCall } from '../../components/use-call.ts';

export function TestsScreen() {
  const { t } = useTranslation();
  const run = useCall('testJobs.run');
  return (
    <div>
      <h1>{t('technician.tests')}</h1>
      <button type="button" onClick={() => void run.run({ kind: 'intake' })} disabled={run.busy}>
        {t('technician.runTest')}
      </button>
      <CallError error={run.error} />
      <JobSteps />
      {run.result && (
        <ul className="panel" aria-live="polite">
          {run.result.outcomes.map((o) => (
            <li key={o.jobId}>
              {o.jobId} {o.serial ?? ''} {o.decision}
              {o.message ? `: ${o.message}` : ''}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
