import { knownZone } from "./localTime";

// Intl formatters are costly to build (about a millisecond each on a phone) and a page formats
// hundreds of prices and times: one per currency, zone and style, built on first use.
const formatters = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat>();

function cached<F extends Intl.NumberFormat | Intl.DateTimeFormat>(key: string, make: () => F): F {
  let f = formatters.get(key) as F | undefined;
  if (f === undefined) {
    f = make();
    formatters.set(key, f);
  }
  return f;
}

export function money(cents: number, currency: string): string {
  try {
    return cached(
      `money:${currency}`,
      () => new Intl.NumberFormat(undefined, { style: "currency", currency }),
    ).format(cents / 100);
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
  const zone = timeZone === undefined ? undefined : knownZone(timeZone);
  const format = cached(
    `dateTime:${zone ?? ""}:${locale ?? ""}`,
    () =>
      new Intl.DateTimeFormat(
        locale,
        zone === undefined ? DATE_TIME : { ...DATE_TIME, timeZone: zone, timeZoneName: "short" },
      ),
  );
  return format.format(new Date(iso));
}

/** The venue's zone as a reader may not know it: "Europe/Amsterdam" -> "Amsterdam time". */
export function zoneName(timeZone: string): string {
  if (timeZone === "UTC") return "UTC";
  const city = timeZone.split("/").pop() ?? timeZone;
  return `${city.replaceAll("_", " ")} time`;
}

export function shortDate(iso: string, timeZone?: string): string {
  const zone = timeZone === undefined ? undefined : knownZone(timeZone);
  const format = cached(
    `shortDate:${zone ?? ""}`,
    () =>
      new Intl.DateTimeFormat(undefined, {
        day: "numeric",
        month: "short",
        year: "numeric",
        ...(zone === undefined ? {} : { timeZone: zone }),
      }),
  );
  return format.format(new Date(iso));
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
