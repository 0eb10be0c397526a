/** Device connection: the ports and HID devices found, a typed path, baud, probe, remember. */
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { CallError } from '../../components/call-error.tsx';
import { useCall, useLoad } from '../../components/use-call.ts';

export function DevicesScreen() {
  const { t } = useTranslation();
  const list = useLoad('device.list', {});
  const probe = useCall('device.probe');
  const remember = useCall('device.remember');
  const [path, setPath] = useState('');
  const [baud, setBaud] = useState('115200');
  const [transport, setTransport] = useState<'serial' | 'hid'>('serial');
  const baudRate = Number(baud);
  const baudArg = transport === 'serial' && Number.isInteger(baudRate) ? { baudRate } : {};
  const pick = (p: string, tr: 'serial' | 'hid'): void => {
    setPath(p);
    setTransport(tr);
  };
  const l = list.result;
  return (
    <div>
      <h1>{t('technician.devices')}</h1>
      <CallError error={list.error} />
      {l && (
        <div className="columns">
          <section className="panel">
            <h2>{t('technician.serialPorts')}</h2>
            {l.serial.length === 0 && <p>{t('technician.none')}</p>}
            <ul>
              {l.serial.map((p) => (
                <li key={p.path}>
                  <button type="button" onClick={() => pick(p.path, 'serial')}>
                    {t('technician.use')} {p.path}
                    {p.manufacturer ? ` (${p.manufacturer})` : ''}
                  </button>
                </li>
              ))}
            </ul>
          </section>
          <section className="panel">
            <h2>{t('technician.hidDevices')}</h2>
            {l.hid.length === 0 && <p>{t('technician.none')}</p>}
            <ul>
              {l.hid.map((d) => (
                <li key={d.path}>
                  <button type="button" onClick={() => pick(d.path, 'hid')}>
                    {t('technician.use')} {d.path}
                    {d.product ? ` (${d.product})` : ''}
                  </button>
                </li>
              ))}
            </ul>
            {l.listError && <p className="warning">{l.listError}</p>}
          </section>
        </div>
      )}
      <form className="panel" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor="dev-transport">{t('technician.transport')}</label>
        <select
          id="dev-transport"
          value={transport}
          onChange={(e) => setTransport(e.target.value === 'hid' ? 'hid' : 'serial')}
        >
          <option value="serial">serial</option>
          <option value="hid">HID</option>
        </select>
        <label htmlFor="dev-path">{t('technician.path')}</label>
        <input
          id="dev-path"
          value={path}
          onChange={(e) => setPath(e.target.value)}
          autoComplete="off"
        />
        <label htmlFor="dev-baud">{t('technician.baud')}</label>
        <input
          id="dev-baud"
          inputMode="numeric"
          value={baud}
          disabled={transport === 'hid'}
          onChange={(e) => setBaud(e.target.value)}
        />
        <div className="actions">
          <button
            type="button"
            disabled={!path || probe.busy}
            onClick={() => void probe.run({ path, ...baudArg })}
          >
            {t('technician.probe')}
          </button>
          <button
            type="button"
            disabled={!path || remember.busy}
            onClick={() => void remember.run({ transport, path, ...baudArg })}
          >
            {t('technician.remember')}
          </button>
        </div>
        <CallError error={probe.error} />
        <CallError error={remember.error} />
        <div role="status">
          {probe.result &&
            (probe.result.ok
              ? t('technician.probeOk', { identity: probe.result.identity ?? '' })
              : t('technician.probeFailed', { error: probe.result.error ?? '' }))}
          {remember.result?.remembered && ` ${t('technician.remembered')}`}
        </div>
      </form>
    </div>
  );
}
