/** The keyboard shortcuts, in a native <dialog> (focus is trapped and Escape closes it). */
import { useEffect, useRef } from 'react';
import { useTranslation } from 'react-i18next';

export const SHORTCUTS = [
  ['F1', 'shortcuts.help'],
  ['Alt+1…9', 'shortcuts.sections'],
  ['Alt+N / Alt+I', 'shortcuts.next'],
  ['Alt+D', 'shortcuts.dismiss'],
  ['Alt+L', 'shortcuts.lock'],
  ['Alt+Q', 'shortcuts.signOut'],
  ['Alt+E', 'shortcuts.language'],
] as const;

export function ShortcutsDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t } = useTranslation();
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} onClose={onClose} aria-labelledby="shortcuts-heading">
      <h2 id="shortcuts-heading">{t('shortcuts.heading')}</h2>
      <table>
        <tbody>
          {SHORTCUTS.map(([keys, label]) => (
            <tr key={keys}>
              <th scope="row">
                <kbd>{keys}</kbd>
              </th>
              <td>{t(label)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <button type="button" onClick={onClose}>
        {t('app.close')}
      </button>
    </dialog>
  );
}
