/**
 * A refused booklet: the reason and what to do, as the station words them (the messages of
 * station/intake/messages.ts come back from the core). It stays until the operator dismisses
 * it; there is no override.
 */
import { useEffect, useRef } from 'react';
import { useTranslation } from 'react-i18next';
import { useStation } from '../store.ts';

export function RefusalPanel() {
  const { t } = useTranslation();
  const outcome = useStation((s) => s.outcome);
  const set = useStation((s) => s.set);
  const button = useRef<HTMLButtonElement>(null);
  const refused = outcome?.decision === 'refused' ? outcome : null;
  useEffect(() => {
    if (refused) button.current?.focus();
  }, [refused]);
  if (!refused) return null;
  return (
    <section
      className="panel refusal"
      role="alert"
      aria-labelledby="refusal-heading"
      data-testid="refusal"
      data-reason={refused.reason ?? ''}
    >
      <h2 id="refusal-heading">{t('refusal.heading')}</h2>
      <dl className="facts">
        {refused.serial && (
          <>
            <dt>{t('refusal.serial')}</dt>
            <dd>{refused.serial}</dd>
          </>
        )}
        <dt>{t('refusal.reason')}</dt>
        <dd data-testid="refusal-reason">{refused.message ?? refused.reason}</dd>
        {refused.instruction && (
          <>
            <dt>{t('refusal.todo')}</dt>
            <dd className="instruction">{refused.instruction}</dd>
          </>
        )}
      </dl>
      <button ref={button} type="button" onClick={() => set({ outcome: null })}>
        {t('refusal.dismiss')}
      </button>
    </section>
  );
}
