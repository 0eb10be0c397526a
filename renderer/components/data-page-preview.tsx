/**
 * The data page before it prints: an SVG from the core shown in an <img> from a blob URL (an
 * image cannot run script; the SVG is never put into the document as markup).
 */
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';

export function DataPagePreview({ svg }: { svg: string | null }) {
  const { t } = useTranslation();
  const [url, setUrl] = useState<string>();
  useEffect(() => {
    if (svg === null) return;
    const u = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [svg]);
  return (
    <section aria-labelledby="preview-heading" className="panel">
      <h2 id="preview-heading">{t('operator.preview')}</h2>
      {svg === null || !url ? (
        <p className="note" data-testid="preview-unavailable">
          {t('operator.previewUnavailable')}
        </p>
      ) : (
        <img className="data-page" src={url} alt={t('operator.preview')} />
      )}
    </section>
  );
}
