/** The audit log, newest pages on request, and a button that verifies the whole chain. */
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { IpcResult } from '../../../contracts/ipc.ts';
import { CallError } from '../../components/call-error.tsx';
import { useCall } from '../../components/use-call.ts';

const PAGE = 100;

export function AuditScreen() {
  const { t } = useTranslation();
  const list = useCall('audit.list');
  const verify = useCall('audit.verify');
  const [rows, setRows] = useState<IpcResult<'audit.list'>>([]);
  const { run } = list;
  useEffect(() => {
    void run({ limit: PAGE }).then((r) => r && setRows(r));
  }, [run]);
  const more = async (): Promise<void> => {
    const last = rows.at(-1);
    const r = await run({ limit: PAGE, ...(last ? { afterSeq: last.seq } : {}) });
    if (r) setRows((prev) => [...prev, ...r]);
  };
  const v = verify.result;
  return (
    <div>
      <h1>{t('supervisor.audit')}</h1>
      <div className="panel">
        <button type="button" onClick={() => void verify.run({})} disabled={verify.busy}>
          {t('supervisor.auditVerify')}
        </button>
        <CallError error={verify.error} />
        {v && (
          <div role="status" data-testid="audit-verify">
            <p className={v.ok ? 'ok' : 'warning'}>
              {v.ok
                ? t('supervisor.auditOk', { entries: v.entries })
                : t('supervisor.auditBad', { count: v.problems.length })}
            </p>
            <ul>
              {v.problems.map((p, i) => (
                <li key={i}>
                  {p.seq ?? ''} {p.kind}: {p.detail}
                </li>
              ))}
            </ul>
          </div>
        )}
      </div>
      <CallError error={list.error} />
      <table className="panel">
        <thead>
          <tr>
            <th scope="col">{t('supervisor.auditCols.seq')}</th>
            <th scope="col">{t('supervisor.auditCols.at')}</th>
            <th scope="col">{t('supervisor.auditCols.actor')}</th>
            <th scope="col">{t('supervisor.auditCols.action')}</th>
            <th scope="col">{t('supervisor.auditCols.subject')}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.seq}>
              <td>{r.seq}</td>
              <td>{r.at}</td>
              <td>{r.actor ?? ''}</td>
              <td>{r.action}</td>
              <td>{r.subject ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" onClick={() => void more()} disabled={list.busy}>
        {t('supervisor.more')}
      </button>
    </div>
  );
}
