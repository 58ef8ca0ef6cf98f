// The seat map as data: a concert's layout placed on a grid of cells, and each seat's live
// status in one byte. No DOM here: the canvas renderer and the tests both use this.
//
// Each section is a block (its rows centred, one seat a cell, a label above and room for row
// labels either side); blocks are laid out under the stage in shelves, as many per shelf as
// keeps the whole map roughly as tall as wide. A 50,000-seat stadium is a few typed arrays,
// and a live change touches only the seats it names.
//
// The view onto the grid is a Camera (CSS pixels per cell and an offset): the map fits the
// screen (the sections overview when seats would be too small to pick), a section fills it
// when picked, and hit testing answers the seat or the section under a point at any zoom.

import { seatId } from "../api/layout";
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
/** Cells left and right of a section's widest row, for row labels. */
export const SIDE_CELLS = 3;
/** The height / width the shelf layout aims for. */
export const TARGET_ASPECT = 1;

export interface SectionBox {
  index: number;
  id: string;
  name: string;
  priceCents: number;
  /** Grid row of the section's label (the top of its block). */
  labelY: number;
  /** The section's block in grid cells: its label, its rows and room for row labels. */
  x: number;
  y: number;
  w: number;
  h: number;
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

export interface SectionSummary extends SeatCounts {
  notForSale: number;
  unknown: number;
  total: number;
}

const AVAILABLE_SLOT = 0;
const HELD_SLOT = 1;
const SOLD_SLOT = 2;
const NOT_FOR_SALE_SLOT = 3;
const UNKNOWN_SLOT = 4;

function slotOf(code: number): number {
  switch (code) {
    case AVAILABLE:
      return AVAILABLE_SLOT;
    case HELD:
      return HELD_SLOT;
    case SOLD:
      return SOLD_SLOT;
    case NOT_FOR_SALE:
      return NOT_FOR_SALE_SLOT;
    default:
      return UNKNOWN_SLOT;
  }
}

/** Place blocks (in order) in shelves under the stage: each shelf's blocks side by side, top
 * aligned, the shelf centred. The number per shelf is the one whose map is closest to
 * TARGET_ASPECT (fewer per shelf on a tie); one per shelf is the classic stacked plan. */
export function shelfLayout(blocks: { w: number; h: number }[]): {
  width: number;
  height: number;
  boxes: { x: number; y: number }[];
} {
  let best: { width: number; height: number; boxes: { x: number; y: number }[] } | null = null;
  let bestScore = Number.POSITIVE_INFINITY;
  for (let perShelf = 1; perShelf <= Math.max(1, blocks.length); perShelf++) {
    const shelves: { w: number; h: number }[][] = [];
    for (let i = 0; i < blocks.length; i += perShelf) shelves.push(blocks.slice(i, i + perShelf));
    const shelfWidth = (shelf: { w: number }[]) =>
      shelf.reduce((sum, b) => sum + b.w, 0) + SECTION_GAP_CELLS * Math.max(0, shelf.length - 1);
    const width = Math.max(1 + 2 * SIDE_CELLS, ...shelves.map(shelfWidth));
    const boxes: { x: number; y: number }[] = [];
    let y = STAGE_CELLS;
    for (const shelf of shelves) {
      let x = Math.floor((width - shelfWidth(shelf)) / 2);
      for (const b of shelf) {
        boxes.push({ x, y });
        x += b.w + SECTION_GAP_CELLS;
      }
      y += Math.max(...shelf.map((b) => b.h)) + SECTION_GAP_CELLS;
    }
    const height = Math.max(y, STAGE_CELLS + 1);
    const score = Math.abs(Math.log(height / width / TARGET_ASPECT));
    if (score < bestScore - 1e-9) {
      bestScore = score;
      best = { width, height, boxes };
    }
  }
  return best ?? { width: 1 + 2 * SIDE_CELLS, height: STAGE_CELLS + 1, boxes: [] };
}

export type Direction = "left" | "right" | "up" | "down" | "home" | "end" | "pageup" | "pagedown";

export class SeatMapModel {
  readonly count: number;
  readonly sections: SectionBox[];
  readonly rows: RowBox[];
  /** Grid size in cells. */
  readonly width: number;
  readonly height: number;
  /** Per seat: grid x, grid y, row index. */
  readonly seatX: Int32Array;
  readonly seatY: Int32Array;
  readonly seatRow: Int32Array;
  /** Per seat: its section's index. */
  readonly seatSection: Int32Array;
  /** Per seat: its status byte (AVAILABLE, HELD, ...). */
  readonly status: Uint8Array;
  version = -1;
  /** `<section id>-<row label>` -> row index, built on the first look-up by id. */
  private rowKeys: Map<string, number> | null = null;
  /** Grid cell -> seat index + 1 (0: no seat). */
  private readonly grid: Int32Array;
  private readonly tally = { available: 0, held: 0, sold: 0, notForSale: 0, unknown: 0 };
  /** Per section, five counters (see slotOf), kept as statuses change. */
  private readonly sectionTally: Int32Array;

  constructor(layout: LayoutInput) {
    let count = 0;
    const widths = layout.sections.map((s) => {
      let widest = 1;
      for (const r of s.rows) {
        count += r.count;
        widest = Math.max(widest, r.count);
      }
      return widest;
    });
    this.count = count;
    this.seatX = new Int32Array(count);
    this.seatY = new Int32Array(count);
    this.seatRow = new Int32Array(count);
    this.seatSection = new Int32Array(count);
    this.status = new Uint8Array(count);
    this.sectionTally = new Int32Array(layout.sections.length * 5);
    this.sections = [];
    this.rows = [];

    const blocks = layout.sections.map((s, si) => ({
      w: (widths[si] as number) + 2 * SIDE_CELLS,
      h: SECTION_LABEL_CELLS + s.rows.length,
    }));
    const placed = shelfLayout(blocks);
    this.width = placed.width;
    this.height = placed.height;

    let seat = 0;
    layout.sections.forEach((s, si) => {
      const at = placed.boxes[si] as { x: number; y: number };
      const block = blocks[si] as { w: number; h: number };
      const widest = widths[si] as number;
      const box: SectionBox = {
        index: si,
        id: s.id,
        name: s.name,
        priceCents: s.price_cents,
        labelY: at.y,
        x: at.x,
        y: at.y,
        w: block.w,
        h: block.h,
        firstRow: this.rows.length,
        rowCount: s.rows.length,
        firstSeat: seat,
        seatCount: 0,
      };
      let y = at.y + SECTION_LABEL_CELLS;
      for (const r of s.rows) {
        const x = at.x + SIDE_CELLS + Math.floor((widest - r.count) / 2);
        const rowIndex = this.rows.length;
        this.rows.push({
          section: si,
          label: r.label,
          x,
          y,
          firstSeat: seat,
          length: r.count,
        });
        // No seat ids here: a stadium's 50,000 strings cost a phone hundreds of ms before the
        // first draw. idOf / indexOf derive them from the row (api/layout.ts's rule).
        for (let n = 0; n < r.count; n++) {
          this.seatX[seat] = x + n;
          this.seatY[seat] = y;
          this.seatRow[seat] = rowIndex;
          this.seatSection[seat] = si;
          seat++;
        }
        y += 1;
      }
      box.seatCount = seat - box.firstSeat;
      this.sections.push(box);
      this.sectionTally[si * 5 + UNKNOWN_SLOT] = box.seatCount;
    });
    this.grid = new Int32Array(this.width * this.height);
    for (let i = 0; i < count; i++) {
      this.grid[(this.seatY[i] as number) * this.width + (this.seatX[i] as number)] = i + 1;
    }
    this.tally.unknown = count;
  }

  /** The id of seat `i` (`<section id>-<row label>-<number>`). */
  idOf(i: number): string {
    const row = this.rows[this.seatRow[i] as number] as RowBox;
    const section = this.sections[row.section] as SectionBox;
    return seatId(section.id, row.label, i - row.firstSeat + 1);
  }

  /** The seat with this id, or -1. */
  indexOf(id: string): number {
    if (this.rowKeys === null) {
      this.rowKeys = new Map(
        this.rows.map((r, i) => [`${(this.sections[r.section] as SectionBox).id}-${r.label}`, i]),
      );
    }
    const dash = id.lastIndexOf("-");
    const row = this.rows[this.rowKeys.get(id.slice(0, dash)) ?? -1];
    const number = Number(id.slice(dash + 1));
    if (!row || !Number.isInteger(number) || number < 1 || number > row.length) return -1;
    if (id.slice(dash + 1) !== String(number)) return -1; // "A-01", "A-1.0": not our ids
    return row.firstSeat + number - 1;
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
    const { available, held, sold } = this.sectionSummary(section);
    return { available, held, sold };
  }

  /** A section's seats by status, kept live: the overview's figures. */
  sectionSummary(section: number): SectionSummary {
    const t = this.sectionTally;
    const k = section * 5;
    if (section < 0 || section >= this.sections.length) {
      return { available: 0, held: 0, sold: 0, notForSale: 0, unknown: 0, total: 0 };
    }
    return {
      available: t[k + AVAILABLE_SLOT] as number,
      held: t[k + HELD_SLOT] as number,
      sold: t[k + SOLD_SLOT] as number,
      notForSale: t[k + NOT_FOR_SALE_SLOT] as number,
      unknown: t[k + UNKNOWN_SLOT] as number,
      total: (this.sections[section] as SectionBox).seatCount,
    };
  }

  /** The section whose block holds grid point (x, y) (fractions allowed), or -1. */
  sectionAt(x: number, y: number): number {
    for (const b of this.sections) {
      if (x >= b.x && x < b.x + b.w && y >= b.y && y < b.y + b.h) return b.index;
    }
    return -1;
  }

  private setStatus(i: number, code: number): boolean {
    const before = this.status[i] as number;
    if (before === code) return false;
    this.bump(before, -1);
    this.bump(code, 1);
    const k = (this.seatSection[i] as number) * 5;
    const t = this.sectionTally;
    t[k + slotOf(before)] = (t[k + slotOf(before)] as number) - 1;
    t[k + slotOf(code)] = (t[k + slotOf(code)] as number) + 1;
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
      const i = this.indexOf(id);
      if (i < 0 || state.length === 0) continue;
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

// ---- The view: a camera onto the grid, zoom transitions and hit testing -------------------

/** screen (CSS px, relative to the map's top left) = grid cell * scale + (x, y). */
export interface Camera {
  scale: number;
  x: number;
  y: number;
}

export interface Viewport {
  width: number;
  height: number;
}

/** How large seats must be to be picked, and how large a picked section shows them. Touch
 * screens: tap targets of at least 24 CSS px; a mouse can pick smaller seats. */
export interface Sizes {
  /** Below this scale a tap or click zooms into the section under it (the overview). */
  pick: number;
  /** The scale a section is shown at when it does not fill the screen at a larger one. */
  section: number;
  /** The largest zoom. */
  max: number;
  /** The largest scale the whole map is shown at (a small venue's seats don't balloon). */
  fitMax: number;
}

export const TOUCH_SIZES: Sizes = { pick: 24, section: 28, max: 56, fitMax: 28 };
export const MOUSE_SIZES: Sizes = { pick: 8, section: 14, max: 48, fitMax: 28 };

/** The whole map, centred. */
export function fitCamera(model: SeatMapModel, vp: Viewport, sizes: Sizes): Camera {
  const scale = Math.min(vp.width / model.width, vp.height / model.height, sizes.fitMax);
  return {
    scale,
    x: (vp.width - model.width * scale) / 2,
    y: (vp.height - model.height * scale) / 2,
  };
}

/** True when the map shows the sections overview: seats too small to pick, a tap zooms in. */
export function isOverview(camera: Camera, sizes: Sizes): boolean {
  return camera.scale < sizes.pick - 1e-9;
}

/** One section filling the screen: fitted (its seats' width) when that shows its seats at
 * least at `sizes.section`, else at that size, centred across and from its front (label) row
 * down. */
export function sectionCamera(
  model: SeatMapModel,
  section: number,
  vp: Viewport,
  sizes: Sizes,
): Camera {
  const box = model.sections[section];
  if (!box) return fitCamera(model, vp, sizes);
  // Its seats and a cell either side: row labels stay on screen by themselves (sticky).
  const seatsWide = Math.max(1, box.w - 2 * SIDE_CELLS + 2);
  const fit = Math.min(vp.width / seatsWide, vp.height / box.h);
  const scale = Math.min(Math.max(fit, sizes.section), sizes.max);
  const x = vp.width / 2 - (box.x + box.w / 2) * scale;
  const y =
    box.h * scale <= vp.height ? vp.height / 2 - (box.y + box.h / 2) * scale : -box.y * scale;
  return clampCamera(model, { scale, x, y }, vp, sizes);
}

/** Keep the zoom between the fit and the maximum and the map on screen: a map narrower than
 * the screen is centred, a wider one can't be dragged past its edges. */
export function clampCamera(
  model: SeatMapModel,
  camera: Camera,
  vp: Viewport,
  sizes: Sizes,
): Camera {
  const min = fitCamera(model, vp, sizes).scale;
  const scale = Math.min(Math.max(camera.scale, min), Math.max(min, sizes.max));
  const axis = (offset: number, size: number, screen: number) => {
    if (size <= screen) return (screen - size) / 2;
    return Math.min(0, Math.max(screen - size, offset));
  };
  return {
    scale,
    x: axis(camera.x, model.width * scale, vp.width),
    y: axis(camera.y, model.height * scale, vp.height),
  };
}

/** Zoom by `factor` keeping the grid point under (px, py) where it is (wheel, pinch). */
export function zoomAt(
  model: SeatMapModel,
  camera: Camera,
  factor: number,
  px: number,
  py: number,
  vp: Viewport,
  sizes: Sizes,
): Camera {
  const min = fitCamera(model, vp, sizes).scale;
  const scale = Math.min(Math.max(camera.scale * factor, min), Math.max(min, sizes.max));
  const k = scale / camera.scale;
  return clampCamera(
    model,
    { scale, x: px - (px - camera.x) * k, y: py - (py - camera.y) * k },
    vp,
    sizes,
  );
}

/** The grid point under a screen point. */
export function toGrid(camera: Camera, px: number, py: number): [number, number] {
  return [(px - camera.x) / camera.scale, (py - camera.y) / camera.scale];
}

/** A seat's cell on screen: left, top, size (CSS px). */
export function seatOnScreen(model: SeatMapModel, camera: Camera, i: number) {
  return {
    left: (model.seatX[i] as number) * camera.scale + camera.x,
    top: (model.seatY[i] as number) * camera.scale + camera.y,
    size: camera.scale,
  };
}

export type Hit = { kind: "seat"; seat: number } | { kind: "section"; section: number } | null;

/** What a tap or click at (px, py) lands on: at the overview, the section whose block is
 * under it (to zoom into); once seats can be picked, the seat under it (or nothing). */
export function hitTest(
  model: SeatMapModel,
  camera: Camera,
  px: number,
  py: number,
  sizes: Sizes,
): Hit {
  const [gx, gy] = toGrid(camera, px, py);
  if (isOverview(camera, sizes)) {
    const section = model.sectionAt(gx, gy);
    return section < 0 ? null : { kind: "section", section };
  }
  const seat = model.seatAt(Math.floor(gx), Math.floor(gy));
  return seat < 0 ? null : { kind: "seat", seat };
}

/** The section that covers most of the screen (the breadcrumb's), or -1 when none shows. */
export function sectionInView(model: SeatMapModel, camera: Camera, vp: Viewport): number {
  const [x0, y0] = toGrid(camera, 0, 0);
  const [x1, y1] = toGrid(camera, vp.width, vp.height);
  let best = -1;
  let bestArea = 0;
  for (const b of model.sections) {
    const w = Math.min(x1, b.x + b.w) - Math.max(x0, b.x);
    const h = Math.min(y1, b.y + b.h) - Math.max(y0, b.y);
    if (w > 0 && h > 0 && w * h > bestArea) {
      bestArea = w * h;
      best = b.index;
    }
  }
  return best;
}

/** The camera moved just enough to show seat `i` whole (with a margin); from the overview,
 * or when the seat is off screen in another section than the one in view, the seat's section
 * is shown first (keyboard picking follows the cursor this way). */
export function showSeat(
  model: SeatMapModel,
  camera: Camera,
  i: number,
  vp: Viewport,
  sizes: Sizes,
): Camera {
  if (i < 0 || i >= model.count) return camera;
  const section = model.seatSection[i] as number;
  const seen = seatOnScreen(model, camera, i);
  const onScreen =
    seen.left >= 0 &&
    seen.top >= 0 &&
    seen.left + seen.size <= vp.width &&
    seen.top + seen.size <= vp.height;
  let cam =
    isOverview(camera, sizes) || (!onScreen && sectionInView(model, camera, vp) !== section)
      ? sectionCamera(model, section, vp, sizes)
      : camera;
  const { left, top, size } = seatOnScreen(model, cam, i);
  const margin = Math.min(size * 2, vp.width / 4, vp.height / 4);
  let { x, y } = cam;
  if (left < margin) x += margin - left;
  else if (left + size > vp.width - margin) x -= left + size - (vp.width - margin);
  if (top < margin) y += margin - top;
  else if (top + size > vp.height - margin) y -= top + size - (vp.height - margin);
  cam = clampCamera(model, { scale: cam.scale, x, y }, vp, sizes);
  return cam;
}
