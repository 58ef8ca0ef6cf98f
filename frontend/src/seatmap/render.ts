// Draws a SeatMapModel on a canvas: everything once, then only the seats that change.

import {
  AVAILABLE,
  HELD,
  NOT_FOR_SALE,
  SECTION_LABEL_CELLS,
  type SeatMapModel,
  SOLD,
  STAGE_CELLS,
} from "./model";

/** Available seats take their section's price-tier colour. */
export const TIER_COLORS = [
  "#059669", // emerald-600
  "#0284c7", // sky-600
  "#7c3aed", // violet-600
  "#db2777", // pink-600
  "#ea580c", // orange-600
  "#0d9488", // teal-600
  "#65a30d", // lime-600
  "#c026d3", // fuchsia-600
];
export const COLORS = {
  background: "#ffffff",
  held: "#fcd34d", // amber-300
  sold: "#94a3b8", // slate-400
  notForSale: "#e2e8f0", // slate-200
  unknown: "#f1f5f9", // slate-100
  selected: "#111827", // gray-900
  stage: "#1e293b",
  text: "#475569",
};

export function tierColor(section: number): string {
  return TIER_COLORS[section % TIER_COLORS.length] as string;
}

/** The largest canvas we allocate, in device pixels (memory and GPU limits). */
export const MAX_CANVAS_PIXELS = 16_000_000;

export function maxCellSize(model: SeatMapModel, dpr: number): number {
  const cells = Math.max(1, model.width * model.height);
  return Math.max(2, Math.floor(Math.sqrt(MAX_CANVAS_PIXELS / cells) / dpr));
}

export class SeatMapRenderer {
  private readonly ctx: CanvasRenderingContext2D;
  cell = 8;
  private dpr = 1;
  selected: ReadonlySet<number> = new Set();

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly model: SeatMapModel,
  ) {
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("canvas 2d is not available");
    this.ctx = ctx;
  }

  /** Size the canvas for `cell` CSS pixels per seat and draw everything. */
  resize(cell: number, dpr: number): void {
    this.cell = Math.max(2, Math.min(cell, maxCellSize(this.model, dpr)));
    this.dpr = dpr;
    const w = this.model.width * this.cell;
    const h = this.model.height * this.cell;
    this.canvas.width = Math.round(w * dpr);
    this.canvas.height = Math.round(h * dpr);
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    this.drawAll();
  }

  private colorOf(i: number): string {
    if (this.selected.has(i)) return COLORS.selected;
    switch (this.model.status[i]) {
      case AVAILABLE:
        return tierColor(this.model.rowOf(i).section);
      case HELD:
        return COLORS.held;
      case SOLD:
        return COLORS.sold;
      case NOT_FOR_SALE:
        return COLORS.notForSale;
      default:
        return COLORS.unknown;
    }
  }

  drawAll(): void {
    const { ctx, model, cell } = this;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, model.width * cell, model.height * cell);
    this.drawDecorations();
    // One path and one fill per colour: 50,000 seats are a handful of draw calls.
    const byColor = new Map<string, number[]>();
    for (let i = 0; i < model.count; i++) {
      const color = this.colorOf(i);
      let list = byColor.get(color);
      if (!list) {
        list = [];
        byColor.set(color, list);
      }
      list.push(i);
    }
    for (const [color, seats] of byColor) {
      ctx.fillStyle = color;
      ctx.beginPath();
      for (const i of seats) this.traceSeat(i);
      ctx.fill();
    }
    for (const i of this.selected) this.drawDot(i);
  }

  /** Redraw some seats only (live changes, selection). */
  drawSeats(seats: Iterable<number>): void {
    const { ctx, cell, model } = this;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    for (const i of seats) {
      if (i < 0 || i >= model.count) continue;
      ctx.fillStyle = COLORS.background;
      ctx.fillRect(
        (model.seatX[i] as number) * cell,
        (model.seatY[i] as number) * cell,
        cell,
        cell,
      );
      ctx.fillStyle = this.colorOf(i);
      ctx.beginPath();
      this.traceSeat(i);
      ctx.fill();
      if (this.selected.has(i)) this.drawDot(i);
    }
  }

  /** The seat's square, whole pixels (crisp edges), a gap between seats once there is room. */
  private seatBox(i: number): [number, number, number] {
    const { cell } = this;
    const gap = cell >= 6 ? Math.max(1, Math.round(cell / 8)) : cell >= 3 ? 1 : 0;
    const x = (this.model.seatX[i] as number) * cell + Math.floor(gap / 2);
    const y = (this.model.seatY[i] as number) * cell + Math.floor(gap / 2);
    return [x, y, cell - gap];
  }

  private traceSeat(i: number): void {
    const [x, y, size] = this.seatBox(i);
    if (this.cell >= 12) this.ctx.roundRect(x, y, size, size, Math.round(size / 4));
    else this.ctx.rect(x, y, size, size);
  }

  /** A white dot on a picked seat, so "selected" never relies on colour alone. */
  private drawDot(i: number): void {
    if (this.cell < 10) return;
    const [x, y, size] = this.seatBox(i);
    this.ctx.fillStyle = "#ffffff";
    this.ctx.beginPath();
    this.ctx.arc(x + size / 2, y + size / 2, Math.max(1.5, size / 6), 0, Math.PI * 2);
    this.ctx.fill();
  }

  private drawDecorations(): void {
    const { ctx, model, cell } = this;
    const stageW = Math.max(4, Math.floor(model.width * 0.6)) * cell;
    const stageX = (model.width * cell - stageW) / 2;
    ctx.fillStyle = COLORS.stage;
    ctx.fillRect(stageX, cell * 0.5, stageW, cell * (STAGE_CELLS - 1.5));
    const font = Math.min(14, Math.max(8, cell * 1.1));
    if (cell * (STAGE_CELLS - 1.5) >= 8) {
      ctx.fillStyle = "#ffffff";
      ctx.font = `600 ${Math.min(font, cell * (STAGE_CELLS - 1.5) * 0.8)}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("STAGE", (model.width * cell) / 2, cell * (0.5 + (STAGE_CELLS - 1.5) / 2));
    }
    ctx.textBaseline = "middle";
    for (const box of model.sections) {
      ctx.fillStyle = tierColor(box.index);
      ctx.font = `600 ${font}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.fillText(
        box.name,
        (model.width * cell) / 2,
        (box.labelY + SECTION_LABEL_CELLS / 2) * cell,
      );
    }
    if (cell >= 9) {
      ctx.fillStyle = COLORS.text;
      ctx.font = `${Math.min(12, cell * 0.8)}px system-ui, sans-serif`;
      ctx.textAlign = "right";
      for (const row of model.rows) {
        ctx.fillText(row.label, row.x * cell - cell * 0.4, (row.y + 0.5) * cell);
      }
    }
  }
}
