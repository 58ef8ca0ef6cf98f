// The seat map as data: a concert's layout placed on a grid of cells, and each seat's live
// status in one byte. No DOM here: the canvas renderer and the tests both use this.
//
// Sections are stacked under the stage, each row centred; one seat is one cell. A 50,000-seat
// stadium is a few typed arrays, and a live change touches only the seats it names.

import { rowSeatIds } from "../api/layout";
import type { SeatChange, SeatCounts, SeatMapSnapshot, Section } from "../api/types";

export const AVAILABLE = 65; // "A"
export const HELD = 72; // "H"
export const SOLD = 83; // "S"
export const NOT_FOR_SALE = 88; // "X"
/** Before the first snapshot: drawn as unknown, never pickable. */
export const UNKNOWN = 0;

export type SeatStatus = "available" | "held" | "sold" | "not_for_sale" | "unknown";

export function statusName(code: number): SeatStatus {
  switch (code) {
    case AVAILABLE:
      return "available";
    case HELD:
      return "held";
    case SOLD:
      return "sold";
    case NOT_FOR_SALE:
      return "not_for_sale";
    default:
      return "unknown";
  }
}

/** Cells above the first section (the stage), and around each section. */
export const STAGE_CELLS = 3;
export const SECTION_LABEL_CELLS = 2;
export const SECTION_GAP_CELLS = 1;
/** Cells left and right of the widest row, for row labels. */
export const SIDE_CELLS = 3;

export interface SectionBox {
  index: number;
  id: string;
  name: string;
  priceCents: number;
  /** Grid row of the section's label. */
  labelY: number;
  firstRow: number;
  rowCount: number;
  firstSeat: number;
  seatCount: number;
}

export interface RowBox {
  section: number;
  label: string;
  /** Grid coordinates of the row's first seat. */
  x: number;
  y: number;
  firstSeat: number;
  length: number;
}

export interface LayoutInput {
  sections: Pick<Section, "id" | "name" | "price_cents" | "rows">[];
}

export type Direction = "left" | "right" | "up" | "down" | "home" | "end" | "pageup" | "pagedown";

export class SeatMapModel {
  readonly count: number;
  readonly ids: string[];
  readonly sections: SectionBox[];
  readonly rows: RowBox[];
  /** Grid size in cells. */
  readonly width: number;
  readonly height: number;
  /** Per seat: grid x, grid y, row index. */
  readonly seatX: Int32Array;
  readonly seatY: Int32Array;
  readonly seatRow: Int32Array;
  /** Per seat: its status byte (AVAILABLE, HELD, ...). */
  readonly status: Uint8Array;
  version = -1;
  private readonly index = new Map<string, number>();
  /** Grid cell -> seat index + 1 (0: no seat). */
  private readonly grid: Int32Array;
  private readonly tally = { available: 0, held: 0, sold: 0, notForSale: 0, unknown: 0 };

  constructor(layout: LayoutInput) {
    let count = 0;
    let widest = 1;
    for (const s of layout.sections) {
      for (const r of s.rows) {
        count += r.count;
        widest = Math.max(widest, r.count);
      }
    }
    this.count = count;
    this.ids = new Array<string>(count);
    this.seatX = new Int32Array(count);
    this.seatY = new Int32Array(count);
    this.seatRow = new Int32Array(count);
    this.status = new Uint8Array(count);
    this.width = widest + 2 * SIDE_CELLS;
    this.sections = [];
    this.rows = [];

    let y = STAGE_CELLS;
    let seat = 0;
    layout.sections.forEach((s, si) => {
      const box: SectionBox = {
        index: si,
        id: s.id,
        name: s.name,
        priceCents: s.price_cents,
        labelY: y,
        firstRow: this.rows.length,
        rowCount: s.rows.length,
        firstSeat: seat,
        seatCount: 0,
      };
      y += SECTION_LABEL_CELLS;
      for (const r of s.rows) {
        const x = SIDE_CELLS + Math.floor((widest - r.count) / 2);
        const rowIndex = this.rows.length;
        this.rows.push({
          section: si,
          label: r.label,
          x,
          y,
          firstSeat: seat,
          length: r.count,
        });
        rowSeatIds(s.id, r).forEach((id, n) => {
          this.ids[seat] = id;
          this.index.set(id, seat);
          this.seatX[seat] = x + n;
          this.seatY[seat] = y;
          this.seatRow[seat] = rowIndex;
          seat++;
        });
        y += 1;
      }
      box.seatCount = seat - box.firstSeat;
      this.sections.push(box);
      y += SECTION_GAP_CELLS;
    });
    this.height = Math.max(y, STAGE_CELLS + 1);
    this.grid = new Int32Array(this.width * this.height);
    for (let i = 0; i < count; i++) {
      this.grid[(this.seatY[i] as number) * this.width + (this.seatX[i] as number)] = i + 1;
    }
    this.tally.unknown = count;
  }

  indexOf(seatId: string): number {
    return this.index.get(seatId) ?? -1;
  }

  /** The seat in grid cell (x, y), or -1. */
  seatAt(x: number, y: number): number {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return -1;
    return (this.grid[y * this.width + x] ?? 0) - 1;
  }

  isAvailable(i: number): boolean {
    return this.status[i] === AVAILABLE;
  }

  sectionOf(i: number): SectionBox {
    const row = this.rows[this.seatRow[i] as number] as RowBox;
    return this.sections[row.section] as SectionBox;
  }

  rowOf(i: number): RowBox {
    return this.rows[this.seatRow[i] as number] as RowBox;
  }

  /** 1-based seat number within its row. */
  numberOf(i: number): number {
    return i - this.rowOf(i).firstSeat + 1;
  }

  describe(i: number): { section: string; row: string; number: number; priceCents: number } {
    const row = this.rowOf(i);
    const section = this.sections[row.section] as SectionBox;
    return {
      section: section.name,
      row: row.label,
      number: i - row.firstSeat + 1,
      priceCents: section.priceCents,
    };
  }

  /** "Floor, row A, seat 12" */
  label(i: number): string {
    const d = this.describe(i);
    return `${d.section}, row ${d.row}, seat ${d.number}`;
  }

  counts(): SeatCounts & { notForSale: number } {
    return {
      available: this.tally.available,
      held: this.tally.held,
      sold: this.tally.sold,
      notForSale: this.tally.notForSale,
    };
  }

  sectionCounts(section: number): SeatCounts {
    const box = this.sections[section];
    const out = { available: 0, held: 0, sold: 0 };
    if (!box) return out;
    for (let i = box.firstSeat; i < box.firstSeat + box.seatCount; i++) {
      const s = this.status[i];
      if (s === AVAILABLE) out.available++;
      else if (s === HELD) out.held++;
      else if (s === SOLD) out.sold++;
    }
    return out;
  }

  private setStatus(i: number, code: number): boolean {
    const before = this.status[i] as number;
    if (before === code) return false;
    this.bump(before, -1);
    this.bump(code, 1);
    this.status[i] = code;
    return true;
  }

  private bump(code: number, by: number): void {
    if (code === AVAILABLE) this.tally.available += by;
    else if (code === HELD) this.tally.held += by;
    else if (code === SOLD) this.tally.sold += by;
    else if (code === NOT_FOR_SALE) this.tally.notForSale += by;
    else this.tally.unknown += by;
  }

  /** Replace every seat's status with a snapshot (the stream's first event, or
   * GET /seats). Rows the snapshot lacks become unknown. */
  applySnapshot(snapshot: SeatMapSnapshot): void {
    const bySection = new Map(snapshot.sections.map((s) => [s.id, s.rows]));
    for (const box of this.sections) {
      const rows = bySection.get(box.id) ?? [];
      for (let r = 0; r < box.rowCount; r++) {
        const row = this.rows[box.firstRow + r] as RowBox;
        const status = rows[r]?.status ?? "";
        for (let n = 0; n < row.length; n++) {
          const code = n < status.length ? status.charCodeAt(n) : UNKNOWN;
          this.setStatus(row.firstSeat + n, code);
        }
      }
    }
    this.version = snapshot.version;
  }

  /** Give every seat one status (a layout preview shows them all available). */
  fill(code: number): void {
    for (let i = 0; i < this.count; i++) this.setStatus(i, code);
  }

  /** Apply a `change` event; returns the seats whose status changed, or null when the event
   * is not newer than what the map shows (a late or repeated event). */
  applyChange(change: SeatChange): number[] | null {
    if (change.version <= this.version) return null;
    this.version = change.version;
    const changed: number[] = [];
    for (const [id, state] of Object.entries(change.seats)) {
      const i = this.index.get(id);
      if (i === undefined || state.length === 0) continue;
      if (this.setStatus(i, state.charCodeAt(0))) changed.push(i);
    }
    return changed;
  }

  /** Keyboard navigation: the seat reached from `i` by a key, or `i` itself at an edge. */
  move(i: number, direction: Direction): number {
    if (this.count === 0) return -1;
    if (i < 0 || i >= this.count) return 0;
    const row = this.rowOf(i);
    const ri = this.seatRow[i] as number;
    switch (direction) {
      case "left":
        return i > row.firstSeat ? i - 1 : i;
      case "right":
        return i < row.firstSeat + row.length - 1 ? i + 1 : i;
      case "home":
        return row.firstSeat;
      case "end":
        return row.firstSeat + row.length - 1;
      case "up":
      case "down": {
        const step = direction === "up" ? -1 : 1;
        for (let r = ri + step; r >= 0 && r < this.rows.length; r += step) {
          const target = this.rows[r] as RowBox;
          if (target.length > 0) return this.nearestInRow(target, this.seatX[i] as number);
        }
        return i;
      }
      case "pageup":
      case "pagedown": {
        const step = direction === "pageup" ? -1 : 1;
        for (let s = row.section + step; s >= 0 && s < this.sections.length; s += step) {
          const box = this.sections[s] as SectionBox;
          if (box.seatCount > 0) return box.firstSeat;
        }
        return i;
      }
    }
  }

  private nearestInRow(row: RowBox, x: number): number {
    const n = Math.min(Math.max(x - row.x, 0), row.length - 1);
    return row.firstSeat + n;
  }

  /** The next available seat after `i` in map order (wrapping), or -1. */
  nextAvailable(i: number): number {
    for (let k = 1; k <= this.count; k++) {
      const j = (i + k + this.count) % this.count;
      if (this.status[j] === AVAILABLE) return j;
    }
    return -1;
  }
}

/** Build the layout of a concert being designed (organiser preview): the API's labels,
 * rows A, B, C ... and seats 1..n. */
export function rowLabel(n: number): string {
  let label = "";
  let k = n;
  do {
    label = String.fromCharCode(65 + (k % 26)) + label;
    k = Math.floor(k / 26) - 1;
  } while (k >= 0);
  return label;
}

export function previewLayout(
  sections: { name: string; price_cents: number; rows: number; seats_per_row: number }[],
): LayoutInput {
  return {
    sections: sections.map((s, si) => {
      const id = `s${si}`;
      const rows = Array.from({ length: Math.max(0, Math.min(s.rows, 200)) }, (_, r) => {
        return { label: rowLabel(r), count: Math.max(0, Math.min(s.seats_per_row, 500)) };
      });
      return { id, name: s.name || `Section ${si + 1}`, price_cents: s.price_cents, rows };
    }),
  };
}
