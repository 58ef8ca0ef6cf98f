/** Seat ids from the compact layout the API sends (docs/api.md, "Concerts"). */

/** The id of seat `n` (from 1) of a row: `<section id>-<row label>-<n>`. */
export function seatId(sectionId: string, rowLabel: string, n: number): string {
  return `${sectionId}-${rowLabel}-${n}`;
}

/** Every seat id of a row, in order. */
export function rowSeatIds(sectionId: string, row: { label: string; count: number }): string[] {
  return Array.from({ length: row.count }, (_, i) => seatId(sectionId, row.label, i + 1));
}
