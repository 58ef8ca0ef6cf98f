// Waiting-room passes, per concert, for this tab: sent as X-Queue-Pass on holds and checkout.

export interface StoredPass {
  pass: string;
  expiresAt: string | null;
}

const key = (concertId: string) => `encore.queue-pass.${concertId}`;

export function savePass(concertId: string, pass: string, expiresAt: string | null): void {
  try {
    sessionStorage.setItem(key(concertId), JSON.stringify({ pass, expiresAt }));
  } catch {
    // Storage refused: the pass lives until the page is left.
  }
}

export function loadPass(concertId: string): StoredPass | null {
  try {
    const raw = sessionStorage.getItem(key(concertId));
    if (!raw) return null;
    const p = JSON.parse(raw) as StoredPass;
    if (p.expiresAt && Date.parse(p.expiresAt) <= Date.now()) {
      sessionStorage.removeItem(key(concertId));
      return null;
    }
    return p;
  } catch {
    return null;
  }
}

export function dropPass(concertId: string): void {
  try {
    sessionStorage.removeItem(key(concertId));
  } catch {
    // nothing to drop
  }
}
