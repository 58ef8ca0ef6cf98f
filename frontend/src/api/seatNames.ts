/** Seat names for people: "Floor, row I, seat 14", never `floor-I-14` (docs/api.md, seat ids
 * are `<section id>-<row label>-<number>`; section ids are slugs of section names). */

import type { Section } from "./types";

export interface SeatPlace {
  sectionId: string;
  row: string;
  number: number;
}

/** The parts of a seat id, or null when it is not one. Section ids may contain `-`; row
 * labels are capital letters (A, B ... AA) and seat numbers digits, so read from the end. */
export function parseSeatId(id: string): SeatPlace | null {
  const m = /^(.+)-([A-Z]+)-(\d+)$/.exec(id);
  if (!m) return null;
  return { sectionId: m[1] as string, row: m[2] as string, number: Number(m[3]) };
}

/** A section id read as words when the layout is not at hand: `upper-tier-2` -> "Upper tier 2". */
export function sectionWords(sectionId: string): string {
  const words = sectionId.replace(/-/g, " ").trim();
  return words ? words.charAt(0).toUpperCase() + words.slice(1) : sectionId;
}

/** "Floor, row I, seat 14": the section's name from `sections` when given (the concert's
 * layout), else read from the id. */
export function seatName(id: string, sections?: Pick<Section, "id" | "name">[] | null): string {
  const place = parseSeatId(id);
  if (!place) return id;
  const section = sections?.find((s) => s.id === place.sectionId)?.name;
  return `${section ?? sectionWords(place.sectionId)}, row ${place.row}, seat ${place.number}`;
}

/** `seatName` bound to a concert's layout (or to none, while it loads). */
export function seatNamer(
  concert?: { sections: Pick<Section, "id" | "name">[] } | null,
): (id: string) => string {
  return (id) => seatName(id, concert?.sections);
}

/** "Floor, row A, seat 1; Floor, row A, seat 2" */
export function seatNames(ids: readonly string[], name: (id: string) => string = seatName): string {
  return ids.map(name).join("; ");
}
