/**
 * The window's security settings in one place (docs/desktop.md, "Security"): what the renderer
 * may do (nothing Node, no navigation, no new windows, no permissions), and the Content Security
 * Policy every page of ours is served with.
 */
import { BrowserWindow, type Session, type WebContents } from 'electron';
import { APP_ORIGIN } from './protocol.ts';

/** No inline script, no eval, nothing from elsewhere; the renderer reaches the station by IPC. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

/**
 * The one window. Its options are written out here, in the constructor call, so that a reader
 * (and electronegativity, which reads the source) sees every setting where it takes effect.
 */
export function createWindow(preload: string): BrowserWindow {
  return new BrowserWindow({
    width: 1280,
    height: 800,
    show: false,
    title: 'Perso Station',
    webPreferences: {
      // Reviewed (electronegativity's PRELOAD_JS_CHECK asks for it): electron/preload.ts exposes
      // only the contract's invoke and subscribe, never ipcRenderer or Node.
      preload /* eng-disable PRELOAD_JS_CHECK */,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      safeDialogs: true,
      spellcheck: false,
      devTools: false,
      // No middle-click (auxclick) opening of links either.
      disableBlinkFeatures: 'Auxclick',
    },
  });
}

/** Navigation, redirects, new windows and webviews are all refused: the app is one page. */
export function lockDownContents(contents: WebContents, log: (line: string) => void): void {
  contents.on('will-navigate', (event, url) => {
    event.preventDefault();
    log(`refused navigation to ${url.slice(0, 200)}`);
  });
  contents.on('will-redirect', (event, url) => {
    event.preventDefault();
    log(`refused redirect to ${url.slice(0, 200)}`);
  });
  contents.on('will-attach-webview', (event) => {
    event.preventDefault();
    log('refused a webview');
  });
  contents.setWindowOpenHandler(({ url }) => {
    log(`refused a new window for ${url.slice(0, 200)}`);
    return { action: 'deny' };
  });
}

/** Camera, notifications, clipboard, serial from the page...: every permission is denied. */
export function denyPermissions(session: Session): void {
  session.setPermissionRequestHandler((_contents, _permission, callback) => callback(false));
  session.setPermissionCheckHandler(() => false);
  session.setDevicePermissionHandler(() => false);
  // The CSP also as a header on every response (our protocol sets it too).
  session.webRequest.onHeadersReceived((details, callback) =>
    callback({
      responseHeaders: {
        ...details.responseHeaders,
        'Content-Security-Policy': [CONTENT_SECURITY_POLICY],
      },
    }),
  );
}

/** Only our page's main frame may call the station (a subframe or another origin is dropped). */
export function isTrustedSender(
  frame: { url: string; parent: unknown } | null | undefined,
): boolean {
  if (!frame || frame.parent) return false;
  try {
    const u = new URL(frame.url);
    return `${u.protocol}//${u.host}` === APP_ORIGIN;
  } catch {
    return false;
  }
}
