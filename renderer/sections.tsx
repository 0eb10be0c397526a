/**
 * The sections each role sees, in order (Alt+1…9 follow this order). The day's close is loaded
 * when first needed: its charts (recharts) are most of the renderer's size, and the sign-in
 * screen does not wait for them; a supervisor's sign-in starts loading it (prefetchSections).
 */
import { lazy, type ComponentType } from 'react';
import type { IpcRole } from '../contracts/ipc.ts';
import { OperatorScreen } from './screens/operator.tsx';
import { AuditScreen } from './screens/supervisor/audit.tsx';
import { ReviewScreen } from './screens/supervisor/review.tsx';
import { StockScreen } from './screens/supervisor/stock.tsx';
import { SyncScreen } from './screens/supervisor/sync.tsx';
import { UsersScreen } from './screens/supervisor/users.tsx';
import { DevicesScreen } from './screens/technician/devices.tsx';
import { DiagnosticsScreen } from './screens/technician/diagnostics.tsx';
import { TerminalScreen } from './screens/technician/terminal.tsx';
import { TestsScreen } from './screens/technician/tests.tsx';

const loadDay = () => import('./screens/supervisor/day.tsx');
const DayScreen = lazy(() => loadDay().then((m) => ({ default: m.DayScreen })));

/** Starts loading the sections a role will use that are not in the first bundle. */
export function prefetchSections(role: IpcRole): void {
  if (SECTIONS_BY_ROLE[role].some((s) => s.id === 'day')) void loadDay().catch(() => undefined);
}

export interface Section {
  id: string;
  screen: ComponentType;
}

const S = {
  operator: { id: 'operator', screen: OperatorScreen },
  stock: { id: 'stock', screen: StockScreen },
  day: { id: 'day', screen: DayScreen },
  review: { id: 'review', screen: ReviewScreen },
  sync: { id: 'sync', screen: SyncScreen },
  audit: { id: 'audit', screen: AuditScreen },
  users: { id: 'users', screen: UsersScreen },
  devices: { id: 'devices', screen: DevicesScreen },
  diagnostics: { id: 'diagnostics', screen: DiagnosticsScreen },
  tests: { id: 'tests', screen: TestsScreen },
  terminal: { id: 'terminal', screen: TerminalScreen },
} satisfies Record<string, Section>;

export const SECTIONS_BY_ROLE: Record<IpcRole, Section[]> = {
  operator: [S.operator],
  supervisor: [S.operator, S.stock, S.day, S.review, S.sync, S.audit, S.users],
  technician: [S.devices, S.diagnostics, S.tests, S.terminal],
  admin: [S.day, S.review, S.sync, S.audit, S.users, S.devices, S.diagnostics, S.terminal],
};
