/** Sign-in (user + PIN), also the unlock screen after inactivity (the user given, PIN only). */
import { useEffect, useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useCall } from '../components/use-call.ts';
import { useStation } from '../store.ts';

export function SignInScreen({ lockedUser }: { lockedUser?: string }) {
  const { t } = useTranslation();
  const set = useStation((s) => s.set);
  const signIn = useCall('session.signIn');
  const [username, setUsername] = useState(lockedUser ?? '');
  const [pin, setPin] = useState('');
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  const onSubmit = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    const session = await signIn.run({ username: username.trim(), pin });
    setPin('');
    if (session) set({ session, locked: false });
  };
  return (
    <main id="main" className="sign-in">
      <form onSubmit={(e) => void onSubmit(e)} aria-labelledby="sign-in-heading" className="panel">
        <h1 id="sign-in-heading">{lockedUser ? t('lock.heading') : t('signIn.heading')}</h1>
        {lockedUser && <p>{t('lock.explain', { username: lockedUser })}</p>}
        {!lockedUser && (
          <>
            <label htmlFor="username">{t('signIn.username')}</label>
            <input
              id="username"
              ref={first}
              value={username}
              onChange={(e) => setUsername(e.target.value)}
              autoComplete="username"
              autoCapitalize="none"
              spellCheck={false}
              required
            />
          </>
        )}
        <label htmlFor="pin">{t('signIn.pin')}</label>
        <input
          id="pin"
          ref={lockedUser ? first : undefined}
          type="password"
          inputMode="numeric"
          value={pin}
          onChange={(e) => setPin(e.target.value)}
          autoComplete="current-password"
          required
        />
        <button type="submit" disabled={signIn.busy}>
          {signIn.busy ? t('signIn.busy') : lockedUser ? t('lock.unlock') : t('signIn.submit')}
        </button>
        {lockedUser && (
          <button type="button" className="secondary" onClick={() => set({ locked: false })}>
            {t('lock.other')}
          </button>
        )}
        <div role="alert" data-testid="sign-in-error">
          {signIn.error && t('signIn.refused', { message: signIn.error.message })}
        </div>
      </form>
    </main>
  );
}
