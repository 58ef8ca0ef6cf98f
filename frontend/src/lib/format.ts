import { knownZone } from "./localTime";

export function money(cents: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(cents / 100);
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency}`;
  }
}

export function priceRange(min: number, max: number, currency: string): string {
  return min === max ? money(min, currency) : `${money(min, currency)} – ${money(max, currency)}`;
}

const DATE_TIME: Intl.DateTimeFormatOptions = {
  weekday: "short",
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
};

/** A moment in the reader's own time; with `timeZone` (a venue's IANA zone) in that zone's
 * time instead, labelled with the zone's short name ("Sat, Jul 4, 2026, 08:00 PM GMT+2"), so a
 * fan far away reads the time the show starts where it is played. */
export function dateTime(iso: string, timeZone?: string, locale?: string): string {
  if (timeZone === undefined) return new Date(iso).toLocaleString(locale, DATE_TIME);
  return new Date(iso).toLocaleString(locale, {
    ...DATE_TIME,
    timeZone: knownZone(timeZone),
    timeZoneName: "short",
  });
}

/** The venue's zone as a reader may not know it: "Europe/Amsterdam" -> "Amsterdam time". */
export function zoneName(timeZone: string): string {
  if (timeZone === "UTC") return "UTC";
  const city = timeZone.split("/").pop() ?? timeZone;
  return `${city.replaceAll("_", " ")} time`;
}

export function shortDate(iso: string, timeZone?: string): string {
  return new Date(iso).toLocaleDateString(undefined, {
    day: "numeric",
    month: "short",
    year: "numeric",
    ...(timeZone === undefined ? {} : { timeZone: knownZone(timeZone) }),
  });
}

/** 75 -> "1:15"; 3700 -> "1:01:40". */
export function clock(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** 42 -> "about 42 seconds"; 600 -> "about 10 minutes". */
export function roughly(seconds: number): string {
  if (seconds < 60) {
    const s = Math.max(1, Math.round(seconds));
    return `about ${s} second${s === 1 ? "" : "s"}`;
  }
  if (seconds < 3600) {
    const m = Math.round(seconds / 60);
    return `about ${m} minute${m === 1 ? "" : "s"}`;
  }
  const h = Math.round(seconds / 360) / 10;
  return `about ${h} hours`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}
