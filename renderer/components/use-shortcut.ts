/** Alt+<key> shortcuts (Alt so that typing in a field never triggers one). */
import { useEffect, useRef } from 'react';

export function useShortcut(key: string, handler: () => void, enabled = true): void {
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent): void => {
      if (!e.altKey || e.ctrlKey || e.metaKey) return;
      // e.code, not e.key: Alt+letter types other characters on some layouts.
      if (e.code !== `Key${key.toUpperCase()}` && e.code !== `Digit${key}`) return;
      e.preventDefault();
      latest.current();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [key, enabled]);
}
