/** The day's reconciliation, with charts and the same numbers as tables (readable without the charts). */
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { CallError } from '../../components/call-error.tsx';
import { useCall, useLoad } from '../../components/use-call.ts';

// High-contrast series colours, told apart also by their labels and the tables.
const COLOURS = { issued: '#005a9c', spoiled: '#a15c00', refused: '#b00020' } as const;

function CauseTable({ title, counts }: { title: string; counts: Record<string, number> }) {
  const { t } = useTranslation();
  const rows = Object.entries(counts);
  return (
    <section className="panel">
      <h3>{title}</h3>
      {rows.length === 0 ? (
        <p>{t('supervisor.noCauses')}</p>
      ) : (
        <>
          <div className="chart" aria-hidden="true">
            <ResponsiveContainer width="100%" height={40 + rows.length * 36}>
              <BarChart
                data={rows.map(([cause, n]) => ({ cause, n }))}
                layout="vertical"
                accessibilityLayer={false}
              >
                <XAxis type="number" allowDecimals={false} />
                <YAxis type="category" dataKey="cause" width={260} />
                <Bar dataKey="n" fill="#333" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </div>
          <table>
            <thead>
              <tr>
                <th scope="col">{t('supervisor.cause')}</th>
                <th scope="col">{t('supervisor.count')}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map(([cause, n]) => (
                <tr key={cause}>
                  <th scope="row">{cause}</th>
                  <td>{n}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

export function DayScreen() {
  const { t } = useTranslation();
  const [date, setDate] = useState('');
  const day = useLoad('reconcile.day', date ? { date } : {}, [date]);
  const r = day.result;
  const close = useCall('reconcile.close');
  const closeDay = async (): Promise<void> => {
    if (!r) return;
    if (await close.run({ date: r.date })) void day.run({ date: r.date });
  };
  const busyHours = r?.hourly.filter((h) => h.issued + h.spoiled + h.refused > 0) ?? [];
  return (
    <div>
      <h1>{t('supervisor.day')}</h1>
      <div className="panel">
        <label htmlFor="day-date">{t('supervisor.date')}</label>
        <input
          id="day-date"
          type="date"
          value={date || r?.date || ''}
          onChange={(e) => setDate(e.target.value)}
        />
        <button type="button" onClick={() => void day.run(date ? { date } : {})}>
          {t('app.refresh')}
        </button>
      </div>
      <CallError error={day.error} />
      {r && (
        <>
          <p
            className={r.balanced ? 'ok big' : 'warning big'}
            role="status"
            data-testid="day-balance"
          >
            {r.date}: {r.balanced ? t('supervisor.balanced') : t('supervisor.unbalanced')}
          </p>
          <div className="panel">
            {r.closed ? (
              <p className="ok" role="status" data-testid="day-closed">
                {t('supervisor.dayClosed', { by: r.closed.by, at: r.closed.at })}
              </p>
            ) : (
              <button
                type="button"
                data-testid="close-day"
                disabled={close.busy}
                onClick={() => void closeDay()}
              >
                {t('supervisor.closeDay')}
              </button>
            )}
            <CallError error={close.error} />
          </div>
          <section className="panel">
            <table>
              <tbody>
                {Object.entries(r.station).map(([k, n]) => (
                  <tr key={k}>
                    <th scope="row">{k}</th>
                    <td>{n}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <section className="panel" aria-labelledby="hourly-heading">
            <h2 id="hourly-heading">{t('supervisor.hourly')}</h2>
            <div className="chart" aria-hidden="true">
              <ResponsiveContainer width="100%" height={280}>
                {/* The table below is the chart for screen readers and the keyboard: the drawing is
                    hidden from them, so it must not take the focus either. */}
                <BarChart data={r.hourly} accessibilityLayer={false}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="hour" />
                  <YAxis allowDecimals={false} />
                  <Tooltip />
                  <Legend />
                  {(['issued', 'spoiled', 'refused'] as const).map((k) => (
                    <Bar
                      key={k}
                      dataKey={k}
                      name={t(`supervisor.series.${k}`)}
                      fill={COLOURS[k]}
                      isAnimationActive={false}
                    />
                  ))}
                </BarChart>
              </ResponsiveContainer>
            </div>
            <table>
              <thead>
                <tr>
                  <th scope="col">{t('supervisor.hour')}</th>
                  <th scope="col">{t('supervisor.series.issued')}</th>
                  <th scope="col">{t('supervisor.series.spoiled')}</th>
                  <th scope="col">{t('supervisor.series.refused')}</th>
                </tr>
              </thead>
              <tbody>
                {busyHours.map((h) => (
                  <tr key={h.hour}>
                    <th scope="row">{String(h.hour).padStart(2, '0')}:00</th>
                    <td>{h.issued}</td>
                    <td>{h.spoiled}</td>
                    <td>{h.refused}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
          <div className="columns">
            <CauseTable title={t('supervisor.spoiledBy')} counts={r.causes.spoiled} />
            <CauseTable title={t('supervisor.refusedBy')} counts={r.causes.refused} />
          </div>
          {r.discrepancies.length > 0 && (
            <section className="panel">
              <h2>{t('supervisor.discrepancies')}</h2>
              <ul>
                {r.discrepancies.map((d) => (
                  <li key={d.serial + d.problem}>
                    {d.serial}: {d.problem}
                  </li>
                ))}
              </ul>
            </section>
          )}
        </>
      )}
    </div>
  );
}
