/** Runs a station call for a screen: its result, whether it is running, and its error. */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { IpcArgs, IpcCallName, IpcResult } from '../../contracts/ipc.ts';
import { useClient } from '../client-context.ts';
import { StationCallError } from '../station-client.ts';

export interface CallState<N extends IpcCallName> {
  result: IpcResult<N> | undefined;
  error: StationCallError | undefined;
  busy: boolean;
  run: (args: IpcArgs<N>) => Promise<IpcResult<N> | undefined>;
}

export function useCall<N extends IpcCallName>(name: N): CallState<N> {
  const client = useClient();
  const [result, setResult] = useState<IpcResult<N>>();
  const [error, setError] = useState<StationCallError>();
  const [busy, setBusy] = useState(false);
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    return () => {
      alive.current = false;
    };
  }, []);
  const run = useCallback(
    async (args: IpcArgs<N>) => {
      setBusy(true);
      setError(undefined);
      try {
        const r = await client.call(name, args);
        if (alive.current) setResult(() => r);
        return r;
      } catch (e) {
        const err =
          e instanceof StationCallError
            ? e
            : new StationCallError({ code: 'internal', message: String(e) });
        if (alive.current) setError(err);
        return undefined;
      } finally {
        if (alive.current) setBusy(false);
      }
    },
    [client, name],
  );
  return { result, error, busy, run };
}

/** Runs the call once when the screen opens (and again on `deps`). */
export function useLoad<N extends IpcCallName>(
  name: N,
  args: IpcArgs<N>,
  deps: readonly unknown[] = [],
): CallState<N> {
  const state = useCall(name);
  const { run } = state;
  useEffect(() => {
    void run(args);
  }, [run, ...deps]);
  return state;
}
