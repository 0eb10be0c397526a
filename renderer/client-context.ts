import { createContext, useContext } from 'react';
import type { StationClient } from './station-client.ts';

export const ClientContext = createContext<StationClient | null>(null);

export function useClient(): StationClient {
  const c = useContext(ClientContext);
  if (!c) throw new Error('useClient outside the station client provider');
  return c;
}
