/**
 * The device terminal: send a command (the core applies the CLI terminal's gate) and read the
 * decoded framed conversation, filtered.
 */
import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { CallError } from '../../components/call-error.tsx';
import { useCall, useLoad } from '../../components/use-call.ts';

export function TerminalScreen() {
  const { t } = useTranslation();
  const [filter, setFilter] = useState('');
  const log = useLoad('terminal.log', filter ? { filter } : {}, [filter]);
  const send = useCall('terminal.send');
  const [command, setCommand] = useState('GET_STATUS');
  const [payload, setPayload] = useState('');
  const onSend = async (e: FormEvent): Promise<void> => {
    e.preventDefault();
    await send.run({ command, ...(payload ? { payloadHex: payload } : {}) });
    void log.run(filter ? { filter } : {});
  };
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
        {send.result && <p role="status">{t('technician.answer', send.result)}</p>}
      </form>
      <div className="panel">
        <label htmlFor="term-filter">{t('technician.filter')}</label>
        <input
          id="term-filter"
          value={filter}
          onChange={(e) => setFilter(e.target.value)}
          autoComplete="off"
        />
      </div>
      <CallError error={log.error} />
      {log.result && (
        <table className="panel terminal">
          <thead>
            <tr>
              <th scope="col">{t('technician.logCols.seq')}</th>
              <th scope="col">{t('technician.logCols.at')}</th>
              <th scope="col">{t('technician.logCols.dir')}</th>
              <th scope="col">{t('technician.logCols.command')}</th>
              <th scope="col">{t('technician.logCols.status')}</th>
              <th scope="col">{t('technician.logCols.payload')}</th>
            </tr>
          </thead>
          <tbody>
            {log.result.map((r) => (
              <tr key={`${r.dir}-${r.seq}-${r.at}`}>
                <td>{r.seq}</td>
                <td>{r.at}</td>
                <td>{r.dir}</td>
                <td>{r.command}</td>
                <td>{r.status ?? ''}</td>
                <td className="hex">{r.payloadHex}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
