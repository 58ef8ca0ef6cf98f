// Waiting-room passes, per concert, for this tab: sent as X-Queue-Pass on holds and checkout;
// and the waiting page's poll.

import { isApiError } from "../api/client";
import type { QueueStatus } from "../api/types";

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

export interface QueueApi {
  joinQueue(concertId: string, altcha?: string | null): Promise<QueueStatus>;
  queueStatus(concertId: string): Promise<QueueStatus>;
}

export interface QueueStep {
  status: QueueStatus;
  /** The service had lost our place (QueueNotJoined after a service interruption): we joined
   * the line again. */
  rejoined: boolean;
}

/** One poll of the waiting page: join the first time, then ask where we are; when the service
 * no longer knows us, join again at once (joining twice keeps a place, so this is safe).
 * `altcha`: the solved proof-of-work challenge when the concert's queue asks for one; it is
 * good once, so a join again after a lost place fails with ChallengeFailed, and the page does
 * a new check (`needsNewCheck`). */
export async function pollQueue(
  api: QueueApi,
  concertId: string,
  joined: boolean,
  altcha: string | null = null,
): Promise<QueueStep> {
  if (!joined) return { status: await api.joinQueue(concertId, altcha), rejoined: false };
  try {
    return { status: await api.queueStatus(concertId), rejoined: false };
  } catch (e) {
    if (isApiError(e) && e.code === "QueueNotJoined") {
      return { status: await api.joinQueue(concertId, altcha), rejoined: true };
    }
    throw e;
  }
}

/** The join was refused for want of a (fresh) proof-of-work solution: do a new check. */
export function needsNewCheck(error: unknown): boolean {
  return (
    isApiError(error) && (error.code === "ChallengeRequired" || error.code === "ChallengeFailed")
  );
}
