/**
 * The device terminal: send a command (the core applies the CLI terminal's gate) and watch the
 * decoded conversation live: the frames so far (terminal.log) once when the screen opens, then
 * each new frame as the core's terminal.frame event, never polled. The filter works on what is
 * kept; the window keeps the newest MAX_FRAMES.
 */
import { useEffect, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import type { IpcEvent } from '../../../contracts/ipc.ts';
import { useClient } from '../../client-context.ts';
import { CallError } from '../../components/call-error.tsx';
import { useCall } from '../../components/use-call.ts';
import { StationCallError } from '../../station-client.ts';

type Frame = IpcEvent<'terminal.frame'>;
/** As many as the core keeps (contracts/ipc.ts, TERMINAL_FRAMES). */
const MAX_FRAMES = 500;

/** Frames from the log and the events, once each, in the order the core numbered them. */
function merge(kept: Frame[], incoming: Frame[]): Frame[] {
  const last = kept.at(-1)?.id ?? 0;
  const all =
    incoming.every((f) => f.id > last) &&
    incoming.every((f, i) => i === 0 || f.id > incoming[i - 1]!.id)
      ? [...kept, ...incoming]
      : [...new Map([...kept, ...incoming].map((f) => [f.id, f])).values()].sort(
          (a, b) => a.id - b.id,
        );
  return all.length > MAX_FRAMES ? all.slice(all.length - MAX_FRAMES) : all;
}

export function TerminalScreen() {
  const { t } = useTranslation();
  const client = useClient();
  const [filter, setFilter] = useState('');
  const [frames, setFrames] = useState<Frame[]>([]);
  const [logError, setLogError] = useState<StationCallError>();
  const send = useCall('terminal.send');
  const [command, setCommand] = useState('GET_STATUS');
  const [payload, setPayload] = useState('');

  useEffect(() => {
    let open = true;
    const off = client.on('terminal.frame', (f) => setFrames((kept) => merge(kept, [f])));
    client.call('terminal.log', {}).then(
      (log) => open && setFrames((kept) => merge(kept, log)),
      (e: unknown) =>
        open &&
        setLogError(
          e instanceof StationCallError
            ? e
            : new StationCallError({ code: 'internal', message: String(e) }),
        ),
    );
    return () => {
      open = false;
      off();
    };
  }, [client]);

  const onSend = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    await send.run({ command, ...(payload ? { payloadHex: payload } : {}) });
  };
  const wanted = filter.trim().toUpperCase();
  const shown = wanted
    ? frames.filter((f) =>
        `${f.kind} ${f.name} ${f.status ?? ''} ${f.detail}`.toUpperCase().includes(wanted),
      )
    : frames;
  return (
    <div>
      <h1>{t('technician.terminal')}</h1>
      <form className="panel" onSubmit={(e) => void onSend(e)}>
        <label htmlFor="term-command">{t('technician.command')}</label>
        <input
          id="term-command"
          value={command}
          onChange={(e) => setCommand(e.target.value)}
          autoComplete="off"
        />
        <label htmlFor="term-payload">{t('technician.payload')}</label>
        <input
          id="term-payload"
          value={payload}
          onChange={(e) => setPayload(e.target.value)}
          autoComplete="off"
        />
        <button type="submit" disabled={!command || send.busy}>
          {t('technician.send')}
        </button>
        <CallError error={send.error} />
        {send.result && (
          <p role="status" data-testid="terminal-answer">
            {t('technician.answer', send.result)}
          </p>
        )}
      </form>
      <div className="panel">
        <label htmlFor="term-filter">{t('technician.filter')}</label>
        <input
          id="term-filter"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          autoComplete="off"
        />
        <p className="note">
          {t('technician.frames', { shown: shown.length, kept: frames.length })}
        </p>
      </div>
      <CallError error={logError} />
      <div
        className="panel terminal-scroll"
        tabIndex={0}
        role="region"
        aria-label={t('technician.conversation')}
      >
        <table className="terminal" data-testid="terminal-frames">
          <thead>
            <tr>
              <th scope="col">{t('technician.logCols.seq')}</th>
              <th scope="col">{t('technician.logCols.at')}</th>
              <th scope="col">{t('technician.logCols.dir')}</th>
              <th scope="col">{t('technician.logCols.kind')}</th>
              <th scope="col">{t('technician.logCols.command')}</th>
              <th scope="col">{t('technician.logCols.status')}</th>
              <th scope="col">{t('technician.logCols.payload')}</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((f) => (
              <tr key={f.id} data-kind={f.kind} data-name={f.name}>
                <td>{f.seq ?? ''}</td>
                <td>{f.at.slice(11, 23)}</td>
                <td>
                  {t(`technician.dir.${f.dir}`)}
                  {f.resent ? ` (${t('technician.resent')})` : ''}
                </td>
                <td>{f.kind}</td>
                <td>{f.name}</td>
                <td>{f.status ?? ''}</td>
                <td className="hex">{f.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
