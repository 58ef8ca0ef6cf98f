// Wall-clock times of `datetime-local` inputs. Without a time zone they are the browser's own;
// with one (a venue's IANA zone) they are that zone's, whatever zone the browser is in: an
// organiser in New York typing 20:00 for an Amsterdam show means 20:00 in Amsterdam.

const pad = (n: number) => String(n).padStart(2, "0");

/** The wall-clock parts of instant `t` (ms) in `timeZone`, as if they were UTC (ms). */
function wallClock(t: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    hourCycle: "h23",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  }).formatToParts(new Date(t));
  const get = (type: Intl.DateTimeFormatPartTypes) =>
    Number(parts.find((p) => p.type === type)?.value ?? 0);
  return Date.UTC(
    get("year"),
    get("month") - 1,
    get("day"),
    get("hour") % 24,
    get("minute"),
    get("second"),
  );
}

/** `timeZone` if the browser knows it, else "UTC" (a zone it never heard of must not break a
 * page). */
export function knownZone(timeZone: string | undefined): string {
  if (!timeZone) return "UTC";
  let known = knownZones.get(timeZone);
  if (known === undefined) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone });
      known = timeZone;
    } catch {
      known = "UTC";
    }
    knownZones.set(timeZone, known);
  }
  return known;
}

// Building an Intl formatter costs a phone about a millisecond: each zone is tried once.
const knownZones = new Map<string, string>();

/** `datetime-local` value for a Date: its wall-clock time in `timeZone` (default: the
 * browser's). */
export function localInput(d: Date, timeZone?: string): string {
  if (timeZone === undefined) {
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  return new Date(wallClock(d.getTime(), knownZone(timeZone))).toISOString().slice(0, 16);
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/;

/** The instant a `datetime-local` value names in `timeZone` (default: the browser's), as ISO
 * 8601 (null when empty or invalid). A time the zone skips (the hour clocks go forward) is
 * read with the offset from before the change. */
export function toIso(local: string, timeZone?: string): string | null {
  if (!local) return null;
  if (timeZone === undefined) {
    const t = new Date(local);
    return Number.isNaN(t.getTime()) ? null : t.toISOString();
  }
  const m = LOCAL.exec(local);
  if (!m) return null;
  const [, y, mo, d, h, mi, s] = m.map(Number) as number[];
  const wall = Date.UTC(y as number, (mo as number) - 1, d, h, mi, s || 0);
  if (Number.isNaN(wall)) return null;
  const zone = knownZone(timeZone);
  // The zone's offset at the guess, then at the result: twice settles it, also next to a
  // change of offset.
  let t = wall - (wallClock(wall, zone) - wall);
  t = wall - (wallClock(t, zone) - t);
  return new Date(t).toISOString();
}

/** The browser's own IANA time zone ("UTC" if it does not say). */
export function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
}

/** Every IANA time zone the browser knows, for a picker (UTC first). */
export function timeZones(): string[] {
  const known =
    typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return ["UTC", ...known.filter((z) => z !== "UTC")];
}
