/** A device pause (jam, cover open, ribbon out) and exactly what the operator must do. */
import { useTranslation } from 'react-i18next';
import { CallError } from './call-error.tsx';
import { useCall } from './use-call.ts';
import { useShortcut } from './use-shortcut.ts';
import { useStation } from '../store.ts';

export function PausePanel() {
  const { t } = useTranslation();
  const devicePause = useStation((s) => s.device?.pause ?? null);
  const jobPause = useStation((s) => s.jobPause);
  const resume = useCall('job.resume');
  useShortcut('r', () => void resume.run({}), jobPause !== null);
  const pause =
    devicePause ??
    (jobPause ? { cause: jobPause.status, instruction: jobPause.instruction } : null);
  if (!pause) return null;
  return (
    <section
      className="panel pause"
      role="alert"
      aria-labelledby="pause-heading"
      data-testid="pause"
    >
      <h2 id="pause-heading">{t('pause.heading')}</h2>
      <dl className="facts">
        <dt>{t('pause.cause')}</dt>
        <dd data-testid="pause-cause">{pause.cause}</dd>
        <dt>{t('pause.todo')}</dt>
        <dd className="instruction" data-testid="pause-instruction">
          {pause.instruction}
        </dd>
      </dl>
      {jobPause ? (
        <>
          <p>{t('pause.resumeAfter')}</p>
          <button type="button" data-testid="resume" onClick={() => void resume.run({})}>
            {t('pause.resume')}
          </button>
          <CallError error={resume.error} />
        </>
      ) : (
        <p>{t('pause.resumeHint')}</p>
      )}
    </section>
  );
}
