/**
 * The window: connects the store to the station's events, signs in, locks after inactivity,
 * and shows the signed-in role's sections with the always-visible sync badge.
 */
import { Suspense, useCallback, useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useClient } from './client-context.ts';
import { ShortcutsDialog } from './components/shortcuts-dialog.tsx';
import { SyncBadge } from './components/sync-badge.tsx';
import { useShortcut } from './components/use-shortcut.ts';
import { setLanguage } from './i18n/index.ts';
import { SignInScreen } from './screens/sign-in.tsx';
import { prefetchSections, SECTIONS_BY_ROLE } from './sections.tsx';
import { useStation } from './store.ts';

/** How often the badge, device and stock are refreshed besides the station's events. */
const POLL_MS = 3000;
/** The core is told of activity at most this often. */
const TOUCH_MS = 15_000;

function useStationEvents(): void {
  const client = useClient();
  const store = useStation;
  useEffect(() => {
    const { set, applyStep, noteDevice } = store.getState();
    const refreshDevice = (): void =>
      void client.call('status.device', {}).then(
        (device) => set({ device }),
        () => undefined,
      );
    const offs = [
      client.on('device.event', (e) => {
        noteDevice(e);
        refreshDevice();
      }),
      client.on('job.step', applyStep),
      client.on('job.outcome', (o) => set({ outcome: o })),
      client.on('sync.state', (sync) => set({ sync })),
      client.on('job.personalized', (personalized) => set({ personalized })),
      client.on('job.preview', (preview) => set({ preview })),
      client.on('job.paused', (jobPause) => set({ jobPause })),
      client.on('session.changed', (session) => {
        const was = store.getState().session;
        // The core ended the session (its own inactivity lock): the same user unlocks.
        if (!session && was) set({ session: null, locked: true, lockedUser: was.username });
        else set({ session });
      }),
      client.onDisconnect((reason) => set({ disconnected: reason })),
    ];
    void client.call('session.whoami', {}).then(
      (session) => set({ session }),
      (e: unknown) => set({ disconnected: e instanceof Error ? e.message : String(e) }),
    );
    return () => offs.forEach((off) => off());
  }, [client, store]);
}

function useStatusPolling(signedIn: boolean): void {
  const client = useClient();
  const set = useStation((s) => s.set);
  useEffect(() => {
    if (!signedIn) return;
    let stopped = false;
    const poll = async (): Promise<void> => {
      const [station, device, sync, stock] = await Promise.allSettled([
        client.call('status.station', {}),
        client.call('status.device', {}),
        client.call('status.sync', {}),
        client.call('status.stock', {}),
      ]);
      if (stopped) return;
      set({
        ...(station.status === 'fulfilled' ? { station: station.value } : {}),
        ...(device.status === 'fulfilled' ? { device: device.value } : {}),
        ...(sync.status === 'fulfilled' ? { sync: sync.value } : {}),
        ...(stock.status === 'fulfilled' ? { stock: stock.value } : {}),
      });
    };
    void poll();
    const timer = setInterval(() => void poll(), POLL_MS);
    return () => {
      stopped = true;
      clearInterval(timer);
    };
  }, [client, set, signedIn]);
}

/** Locks after `lockAfterMs` without a key or pointer; tells the core of activity. */
function useInactivityLock(lockAfterMs: number | undefined, lock: () => void): void {
  const client = useClient();
  const lastTouch = useRef(0);
  useEffect(() => {
    if (!lockAfterMs) return;
    let timer = setTimeout(lock, lockAfterMs);
    const onActivity = (): void => {
      clearTimeout(timer);
      timer = setTimeout(lock, lockAfterMs);
      const now = Date.now();
      if (now - lastTouch.current > TOUCH_MS) {
        lastTouch.current = now;
        void client.call('session.touch', {}).catch(() => undefined);
      }
    };
    const events = ['keydown', 'pointerdown', 'wheel'] as const;
    for (const e of events) window.addEventListener(e, onActivity, { passive: true });
    return () => {
      clearTimeout(timer);
      for (const e of events) window.removeEventListener(e, onActivity);
    };
  }, [client, lockAfterMs, lock]);
}

export function App() {
  const { t, i18n } = useTranslation();
  const client = useClient();
  const session = useStation((s) => s.session);
  const locked = useStation((s) => s.locked);
  const lockedUser = useStation((s) => s.lockedUser);
  const station = useStation((s) => s.station);
  const disconnected = useStation((s) => s.disconnected);
  const set = useStation((s) => s.set);
  const [section, setSection] = useState(0);
  const [help, setHelp] = useState(false);
  const main = useRef<HTMLElement>(null);

  useStationEvents();
  useStatusPolling(session !== null);

  const signOut = useCallback(async () => {
    await client.call('session.signOut', {}).catch(() => undefined);
    set({ session: null, locked: false, lockedUser: null, job: null, outcome: null });
  }, [client, set]);
  const lock = useCallback(async () => {
    const who = useStation.getState().session?.username ?? null;
    await client.call('session.signOut', {}).catch(() => undefined);
    set({ session: null, locked: who !== null, lockedUser: who, job: null, outcome: null });
  }, [client, set]);
  useInactivityLock(session?.lockAfterMs, () => void lock());

  const sections = session ? SECTIONS_BY_ROLE[session.role] : [];
  const current = sections[Math.min(section, sections.length - 1)];
  const go = (i: number): void => {
    if (i >= sections.length) return;
    setSection(i);
    // The new section's heading is where a keyboard user continues (a section loaded on first
    // use shows its heading a few frames later).
    let frames = 0;
    const focusHeading = (): void => {
      const h1 = main.current?.querySelector('h1');
      if (h1) h1.focus();
      else if (++frames < 60) requestAnimationFrame(focusHeading);
    };
    requestAnimationFrame(focusHeading);
  };
  useEffect(() => {
    setSection(0);
    if (session) prefetchSections(session.role);
  }, [session?.role]);

  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'F1') {
        e.preventDefault();
        setHelp((h) => !h);
      } else if (e.altKey && /^Digit[1-9]$/.test(e.code)) {
        e.preventDefault();
        go(Number(e.code.slice(5)) - 1);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  });
  // The station's own messages (refusal reasons, device words) follow the window's language.
  const toggleLanguage = (): void => {
    const lang = i18n.language === 'es' ? 'en' : 'es';
    void setLanguage(lang);
    if (session) void client.call('session.setLanguage', { lang }).catch(() => undefined);
  };
  useShortcut('e', toggleLanguage);
  useShortcut('l', () => void lock(), session !== null);
  useShortcut('q', () => void signOut(), session !== null);

  const languageButton = (
    <button
      type="button"
      className="secondary"
      onClick={toggleLanguage}
      lang={i18n.language === 'es' ? 'en' : 'es'}
    >
      {i18n.language === 'es' ? 'English' : 'Español'}
    </button>
  );

  if (disconnected)
    return (
      <main id="main" className="sign-in">
        <p className="error" role="alert" data-testid="disconnected">
          {t('app.disconnected', { reason: disconnected })}
        </p>
      </main>
    );

  if (!session)
    return (
      <>
        <header className="top">
          <span className="title">{t('app.title')}</span>
          {languageButton}
        </header>
        <SignInScreen
          key={locked ? `lock-${lockedUser}` : 'sign-in'}
          {...(locked && lockedUser ? { lockedUser } : {})}
        />
      </>
    );

  const Screen = current?.screen;
  return (
    <>
      <a className="skip" href="#main">
        {t('app.skip')}
      </a>
      {station?.development && (
        <p className="dev-banner" role="note">
          {t('app.development')}
        </p>
      )}
      <header className="top">
        <span className="title">
          {t('app.title')}
          {station ? ` · ${station.stationId} · ${station.agencyName}` : ''}
        </span>
        <SyncBadge />
        <span className="who">
          {t('app.signedInAs', { username: session.username, role: t(`roles.${session.role}`) })}
        </span>
        {languageButton}
        <button type="button" className="secondary" onClick={() => setHelp(true)}>
          {t('app.shortcuts')} (F1)
        </button>
        <button type="button" className="secondary" onClick={() => void lock()}>
          {t('app.lock')} (Alt+L)
        </button>
        <button type="button" className="secondary" onClick={() => void signOut()}>
          {t('app.signOut')} (Alt+Q)
        </button>
      </header>
      {sections.length > 1 && (
        <nav aria-label={t('nav.label')}>
          <ul>
            {sections.map((s, i) => (
              <li key={s.id}>
                <button
                  type="button"
                  aria-current={s === current ? 'page' : undefined}
                  onClick={() => go(i)}
                >
                  <kbd>{i + 1}</kbd> {t(`nav.${s.id}`)}
                </button>
              </li>
            ))}
          </ul>
        </nav>
      )}
      <main id="main" ref={main} tabIndex={-1}>
        <Suspense fallback={<p role="status">{t('app.loading')}</p>}>
          {Screen && <Screen />}
        </Suspense>
      </main>
      <ShortcutsDialog open={help} onClose={() => setHelp(false)} />
    </>
  );
}
