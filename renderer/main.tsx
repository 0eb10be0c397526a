/** Entry: language, the station client (Electron preload or the browser bridge), the window. */
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app.tsx';
import { ClientContext } from './client-context.ts';
import { initI18n } from './i18n/index.ts';
import { connectStation, type StationClient } from './station-client.ts';
import './styles.css';

const root = createRoot(document.getElementById('root')!);
await initI18n('es');
let client: StationClient;
try {
  client = connectStation();
} catch (e) {
  const p = document.createElement('p');
  p.setAttribute('role', 'alert');
  p.className = 'error';
  p.textContent = e instanceof Error ? e.message : String(e);
  document.getElementById('root')!.replaceChildren(p);
  throw e;
}
root.render(
  <StrictMode>
    <ClientContext.Provider value={client}>
      <App />
    </ClientContext.Provider>
  </StrictMode>,
);
