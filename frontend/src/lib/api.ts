// The app's one API client: the login lives in localStorage (so it survives a reload and is
// shared by tabs), refreshes are serialised across tabs with the Web Locks API.

import { ApiClient, type LockRunner, type Session, type SessionStore } from "../api/client";

const KEY = "encore.session";

function readSession(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    if (!raw) return null;
    const s = JSON.parse(raw) as Session;
    return typeof s.accessToken === "string" && typeof s.refreshToken === "string" ? s : null;
  } catch {
    return null;
  }
}

export const browserSessionStore: SessionStore = {
  load: readSession,
  save(session) {
    try {
      if (session) localStorage.setItem(KEY, JSON.stringify(session));
      else localStorage.removeItem(KEY);
    } catch {
      // Private mode or full storage: the login lasts as long as the page.
    }
  },
};

const webLock: LockRunner = (name, fn) => {
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  return locks ? (locks.request(name, fn) as ReturnType<typeof fn>) : fn();
};

type SessionEvents = {
  ended: (reason: string) => void;
  changed: (session: Session | null) => void;
};

const listeners: { [K in keyof SessionEvents]: Set<SessionEvents[K]> } = {
  ended: new Set(),
  changed: new Set(),
};

export function onSession<K extends keyof SessionEvents>(
  kind: K,
  fn: SessionEvents[K],
): () => void {
  listeners[kind].add(fn);
  return () => listeners[kind].delete(fn);
}

export const api = new ApiClient({
  store: browserSessionStore,
  lock: webLock,
  onSessionEnd: (reason) => {
    for (const fn of listeners.ended) fn(reason);
  },
  onSessionChange: (session) => {
    for (const fn of listeners.changed) fn(session);
  },
});

export const SESSION_KEY = KEY;
