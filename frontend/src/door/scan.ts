// The door's pure logic: what a check-in answer means for the person at the door, and which
// camera reads to act on (a code held in front of the camera is read five times a second).

import { isApiError } from "../api/client";
import type { CheckIn } from "../api/types";

export type ScanResult =
  | { kind: "admitted"; seat: string; holder: string | null; at: string }
  | { kind: "already_in"; since: string; detail: string }
  | { kind: "revoked"; reason: string | null; detail: string }
  | { kind: "invalid"; detail: string }
  /** No answer about the ticket (network, login, server): scan again. */
  | { kind: "error"; detail: string };

/** The seat as door staff say it: "Floor, row B, seat 3". */
export function seatLabel(c: Pick<CheckIn, "section" | "row" | "number">): string {
  return `${c.section}, row ${c.row}, seat ${c.number}`;
}

export function admitted(c: CheckIn): ScanResult {
  return { kind: "admitted", seat: seatLabel(c), holder: c.holder_name, at: c.checked_in_at };
}

/** The refusal an error of `checkIn` stands for. */
export function refused(error: unknown): ScanResult {
  if (!isApiError(error)) {
    return { kind: "error", detail: "Something went wrong on this device: scan again." };
  }
  const body = error.body ?? null;
  if (error.code === "AlreadyCheckedIn") {
    const since = typeof body?.checked_in_at === "string" ? body.checked_in_at : "";
    return { kind: "already_in", since, detail: error.detail };
  }
  if (error.code === "TicketRevoked") {
    const reason = typeof body?.reason === "string" ? body.reason : null;
    return { kind: "revoked", reason, detail: error.detail };
  }
  if (error.code === "InvalidTicket" || error.status === 422) {
    return { kind: "invalid", detail: error.detail };
  }
  if (error.status === 0) {
    return {
      kind: "error",
      detail: "No connection to Encore: nothing was checked. Scan again when back online.",
    };
  }
  if (error.status === 401 || error.status === 403) {
    return {
      kind: "error",
      detail: "This device is not logged in as an organiser: log in again, then scan again.",
    };
  }
  return { kind: "error", detail: `${error.detail} Scan again.` };
}

/** The big words of a result. `time` formats a moment as a clock time ("20:14"). */
export function headline(r: ScanResult, time: (iso: string) => string): string {
  switch (r.kind) {
    case "admitted":
      return "Admitted";
    case "already_in":
      return r.since ? `Already in since ${time(r.since)}` : "Already in";
    case "revoked":
      return r.reason ? `Revoked (${r.reason})` : "Revoked";
    case "invalid":
      return "Not a ticket for this concert";
    case "error":
      return "Not checked: scan again";
  }
}

/** A moment as a clock time, "20:14", in `timeZone` (the venue's) or the device's. */
export function clockTime(iso: string, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  try {
    return d.toLocaleTimeString("en-GB", {
      hour: "2-digit",
      minute: "2-digit",
      ...(timeZone ? { timeZone } : {}),
    });
  } catch {
    return d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  }
}

/** Drops a camera read of the code it let through less than `windowMs` ago: one ticket held
 * up is one scan, not one every 200 ms. Another code in between does not reset the window. */
export class RepeatFilter {
  private readonly seen = new Map<string, number>();

  constructor(private readonly windowMs = 4000) {}

  /** True when `code` read at `now` (ms) should be checked in. */
  accept(code: string, now: number): boolean {
    for (const [c, t] of this.seen) if (now - t >= this.windowMs) this.seen.delete(c);
    if (this.seen.has(code)) return false;
    this.seen.set(code, now);
    return true;
  }
}
