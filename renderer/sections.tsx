/** The sections each role sees, in order (Alt+1…9 follow this order). */
import type { ComponentType } from 'react';
import type { IpcRole } from '../contracts/ipc.ts';
import { OperatorScreen } from './screens/operator.tsx';
import { AuditScreen } from './screens/supervisor/audit.tsx';
import { DayScreen } from './screens/supervisor/day.tsx';
import { ReviewScreen } from './screens/supervisor/review.tsx';
import { StockScreen } from './screens/supervisor/stock.tsx';
import { SyncScreen } from './screens/supervisor/sync.tsx';
import { UsersScreen } from './screens/supervisor/users.tsx';
import { DevicesScreen } from './screens/technician/devices.tsx';
import { DiagnosticsScreen } from './screens/technician/diagnostics.tsx';
import { TerminalScreen } from './screens/technician/terminal.tsx';
import { TestsScreen } from './screens/technician/tests.tsx';

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
