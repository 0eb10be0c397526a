/** A device pause (jam, cover open, ribbon out) and exactly what the operator must do. */
import { useTranslation } from 'react-i18next';
import { useStation } from '../store.ts';

export function PausePanel() {
  const { t } = useTranslation();
  const pause = useStation((s) => s.device?.pause ?? null);
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
      <p>{t('pause.resumeHint')}</p>
    </section>
  );
}
