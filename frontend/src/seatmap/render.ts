// Draws a SeatMapModel on a canvas the size of the map's box, through a Camera: the part of
// the map in view, and nothing else. Below the pick size (the sections overview) each section
// is a block with its seats as a heat map of their states and a plate with its name, price and
// live figures; once seats can be picked each state has its own shape as well as its colour,
// and the row and section labels stay on screen while the map is dragged.

import { money } from "../lib/format";
import {
  AVAILABLE,
  type Camera,
  HELD,
  isOverview,
  MOUSE_SIZES,
  NOT_FOR_SALE,
  type RowBox,
  SECTION_LABEL_CELLS,
  type SeatMapModel,
  type Sizes,
  SOLD,
  STAGE_CELLS,
  type Viewport,
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
  heldMark: "#92400e", // amber-800: the held seat's diagonal stroke
  sold: "#cbd5e1", // slate-300
  soldMark: "#475569", // slate-600: the sold seat's cross
  notForSale: "#cbd5e1", // slate-300: an outline only
  unknown: "#f1f5f9", // slate-100
  selected: "#111827", // gray-900, with a white tick
  stage: "#1e293b",
  text: "#475569",
  plate: "rgba(255, 255, 255, 0.92)",
};

export function tierColor(section: number): string {
  return TIER_COLORS[section % TIER_COLORS.length] as string;
}

/** Seats are drawn with their state's shape (tick, stroke, cross, outline) from this size. */
export const SHAPE_MIN_PX = 7;
/** Row labels from this size. */
export const ROW_LABEL_MIN_PX = 9;

type Kind = "available" | "selected" | "held" | "sold" | "notForSale" | "unknown";

export class SeatMapRenderer {
  private readonly ctx: CanvasRenderingContext2D;
  selected: ReadonlySet<number> = new Set();
  camera: Camera = { scale: 8, x: 0, y: 0 };
  sizes: Sizes = MOUSE_SIZES;
  currency = "EUR";
  private width = 1;
  private height = 1;
  private dpr = 1;
  /** Small seats (below SHAPE_MIN_PX) come from a picture of one pixel per grid cell, scaled
   * up: tens of thousands of seats in one drawImage. Rebuilt when statuses or the selection
   * change (a pass over a typed array). */
  private heat: HTMLCanvasElement | null = null;
  private heatKey: { version: number; selected: ReadonlySet<number> } | null = null;
  private heatStale = true;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    readonly model: SeatMapModel,
  ) {
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("canvas 2d is not available");
    this.ctx = ctx;
  }

  get pixelRatio(): number {
    return this.dpr;
  }

  /** Size the canvas (CSS px) for the device's pixel ratio. */
  resize(width: number, height: number, dpr: number): void {
    this.width = Math.max(1, width);
    this.height = Math.max(1, height);
    this.dpr = dpr;
    this.canvas.width = Math.round(this.width * dpr);
    this.canvas.height = Math.round(this.height * dpr);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
  }

  private kindOf(i: number): Kind {
    if (this.selected.has(i)) return "selected";
    switch (this.model.status[i]) {
      case AVAILABLE:
        return "available";
      case HELD:
        return "held";
      case SOLD:
        return "sold";
      case NOT_FOR_SALE:
        return "notForSale";
      default:
        return "unknown";
    }
  }

  /** Draw what the camera shows. */
  draw(): void {
    const { ctx, model, camera } = this;
    const s = camera.scale;
    const overview = isOverview(camera, this.sizes);
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, this.width, this.height);
    this.drawStage();

    // Section blocks: a tinted box, so a section reads as one block at any zoom.
    for (const box of model.sections) {
      const x = box.x * s + camera.x;
      const y = box.y * s + camera.y;
      const w = box.w * s;
      const h = box.h * s;
      if (x > this.width || y > this.height || x + w < 0 || y + h < 0) continue;
      ctx.fillStyle = withAlpha(tierColor(box.index), overview ? 0.1 : 0.05);
      ctx.strokeStyle = withAlpha(tierColor(box.index), 0.55);
      ctx.lineWidth = overview ? 1.5 : 1;
      ctx.beginPath();
      ctx.roundRect(x + 0.5, y + 0.5, w - 1, h - 1, Math.min(8, w / 8, h / 8));
      ctx.fill();
      ctx.stroke();
    }

    if (s < SHAPE_MIN_PX) {
      this.drawHeat();
      if (overview) for (const box of model.sections) this.drawPlate(box.index);
      return;
    }

    // Seats in view, one path per colour, then their marks.
    const byKind = new Map<string, number[]>();
    const marks: Record<Kind, number[]> = {
      available: [],
      selected: [],
      held: [],
      sold: [],
      notForSale: [],
      unknown: [],
    };
    this.forSeatsInView((i) => {
      const kind = this.kindOf(i);
      const color = kind === "available" ? tierColor(model.seatSection[i] as number) : kind;
      let list = byKind.get(color);
      if (!list) {
        list = [];
        byKind.set(color, list);
      }
      list.push(i);
      marks[kind].push(i);
    });
    const shapes = s >= SHAPE_MIN_PX;
    for (const [color, seats] of byKind) {
      if (color === "notForSale" && shapes) continue; // an outline, below
      ctx.fillStyle = fillOf(color);
      ctx.beginPath();
      for (const i of seats) this.traceSeat(i);
      ctx.fill();
    }
    if (shapes) this.drawMarks(marks);

    if (overview) {
      for (const box of model.sections) this.drawPlate(box.index);
    } else {
      this.drawRowLabels();
      this.drawSectionTitles();
    }
  }

  /** Statuses changed (a live update): the small-seat picture is rebuilt on the next draw. */
  invalidate(): void {
    this.heatStale = true;
  }

  private freshHeat(): HTMLCanvasElement | null {
    const key = this.heatKey;
    if (
      !this.heat ||
      this.heatStale ||
      !key ||
      key.version !== this.model.version ||
      key.selected !== this.selected
    ) {
      this.buildHeat();
    }
    return this.heat;
  }

  /** The whole map small on `target` (CSS size w x h) with the screen's part outlined:
   * the minimap of a zoomed view. */
  drawMinimap(target: HTMLCanvasElement, w: number, h: number, screen: Viewport): void {
    const { model, camera } = this;
    const ctx = target.getContext("2d");
    const heat = this.freshHeat();
    if (!ctx || !heat) return;
    ctx.setTransform(this.dpr, 0, 0, this.dpr, 0, 0);
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, w, h);
    const k = Math.min(w / model.width, h / model.height);
    const ox = (w - model.width * k) / 2;
    const oy = (h - model.height * k) / 2;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(heat, ox, oy, model.width * k, model.height * k);
    ctx.fillStyle = COLORS.stage;
    ctx.fillRect(ox + model.width * k * 0.2, oy, model.width * k * 0.6, Math.max(2, k * 2));
    // The screen's part: grid coordinates of the screen's corners, at the minimap's scale.
    const cx = ((screen.width / 2 - camera.x) / camera.scale) * k + ox;
    const cy = ((screen.height / 2 - camera.y) / camera.scale) * k + oy;
    // At least 8 px: findable even deep in a big map.
    const vw = Math.max(8, (screen.width / camera.scale) * k);
    const vh = Math.max(8, (screen.height / camera.scale) * k);
    // A light window with a dark and a white edge: visible on every section colour.
    const x = Math.max(1.5, cx - vw / 2);
    const y = Math.max(1.5, cy - vh / 2);
    const rw = Math.min(vw, w - 1.5 - x);
    const rh = Math.min(vh, h - 1.5 - y);
    ctx.fillStyle = "rgba(255, 255, 255, 0.5)";
    ctx.fillRect(x, y, rw, rh);
    ctx.lineWidth = 3;
    ctx.strokeStyle = "#ffffff";
    ctx.strokeRect(x, y, rw, rh);
    ctx.lineWidth = 1.5;
    ctx.strokeStyle = "#0f172a";
    ctx.strokeRect(x, y, rw, rh);
  }

  private drawHeat(): void {
    const { ctx, model, camera } = this;
    const heat = this.freshHeat();
    if (!heat) return;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(
      heat,
      camera.x,
      camera.y,
      model.width * camera.scale,
      model.height * camera.scale,
    );
    ctx.imageSmoothingEnabled = true;
  }

  private buildHeat(): void {
    const { model } = this;
    if (!this.heat) {
      this.heat = document.createElement("canvas");
      this.heat.width = model.width;
      this.heat.height = model.height;
    }
    const hctx = this.heat.getContext("2d");
    if (!hctx) return;
    const image = hctx.createImageData(model.width, model.height);
    const px = new Uint32Array(image.data.buffer);
    const rgba = new Map<string, number>();
    const colour = (css: string) => {
      let v = rgba.get(css);
      if (v === undefined) {
        const n = Number.parseInt(css.slice(1), 16);
        // ImageData is RGBA in memory: a little-endian Uint32 reads it as ABGR.
        v = ((255 << 24) | ((n & 255) << 16) | (n & 0xff00) | ((n >> 16) & 255)) >>> 0;
        rgba.set(css, v);
      }
      return v;
    };
    for (let i = 0; i < model.count; i++) {
      const kind = this.kindOf(i);
      const css = kind === "available" ? tierColor(model.seatSection[i] as number) : fillOf(kind);
      px[(model.seatY[i] as number) * model.width + (model.seatX[i] as number)] = colour(css);
    }
    hctx.putImageData(image, 0, 0);
    this.heatKey = { version: model.version, selected: this.selected };
    this.heatStale = false;
  }

  /** Every seat whose cell is on screen. */
  private forSeatsInView(visit: (i: number) => void): void {
    const { model, camera } = this;
    const s = camera.scale;
    const gx0 = -camera.x / s;
    const gy0 = -camera.y / s;
    const gx1 = (this.width - camera.x) / s;
    const gy1 = (this.height - camera.y) / s;
    for (const box of model.sections) {
      if (box.x > gx1 || box.y > gy1 || box.x + box.w < gx0 || box.y + box.h < gy0) continue;
      for (let r = box.firstRow; r < box.firstRow + box.rowCount; r++) {
        const row = model.rows[r] as RowBox;
        if (row.y + 1 < gy0 || row.y > gy1) continue;
        const from = Math.max(0, Math.floor(gx0 - row.x));
        const to = Math.min(row.length, Math.ceil(gx1 - row.x) + 1);
        for (let n = from; n < to; n++) visit(row.firstSeat + n);
      }
    }
  }

  /** The seat's square on screen, whole pixels, a gap between seats once there is room. */
  private seatBox(i: number): [number, number, number] {
    const { camera } = this;
    const s = camera.scale;
    const gap = s >= 6 ? Math.max(1, Math.round(s / 8)) : s >= 3 ? 1 : 0;
    const x = Math.round((this.model.seatX[i] as number) * s + camera.x + gap / 2);
    const y = Math.round((this.model.seatY[i] as number) * s + camera.y + gap / 2);
    return [x, y, Math.max(1, Math.round(s - gap))];
  }

  private traceSeat(i: number): void {
    const [x, y, size] = this.seatBox(i);
    if (size >= 10) this.ctx.roundRect(x, y, size, size, Math.round(size / 4));
    else this.ctx.rect(x, y, size, size);
  }

  /** Shapes, so no state relies on colour alone: a tick on your pick, a stroke across a held
   * seat, a cross on a sold one, an outline for not for sale. */
  private drawMarks(marks: Record<Kind, number[]>): void {
    const { ctx } = this;
    ctx.lineCap = "round";
    const stroke = (color: string, width: number, seats: number[], trace: TraceMark) => {
      if (seats.length === 0) return;
      ctx.strokeStyle = color;
      ctx.lineWidth = width;
      ctx.beginPath();
      for (const i of seats) {
        const [x, y, size] = this.seatBox(i);
        trace(ctx, x, y, size);
      }
      ctx.stroke();
    };
    const w = Math.max(1, this.camera.scale / 10);
    stroke(COLORS.heldMark, w, marks.held, (c, x, y, size) => {
      const p = size * 0.25;
      c.moveTo(x + p, y + size - p);
      c.lineTo(x + size - p, y + p);
    });
    stroke(COLORS.soldMark, w, marks.sold, (c, x, y, size) => {
      const p = size * 0.28;
      c.moveTo(x + p, y + p);
      c.lineTo(x + size - p, y + size - p);
      c.moveTo(x + size - p, y + p);
      c.lineTo(x + p, y + size - p);
    });
    stroke(COLORS.notForSale, Math.max(1, w * 0.8), marks.notForSale, (c, x, y, size) => {
      c.rect(x + 1, y + 1, size - 2, size - 2);
    });
    stroke("#ffffff", Math.max(1.5, w * 1.3), marks.selected, (c, x, y, size) => {
      c.moveTo(x + size * 0.27, y + size * 0.52);
      c.lineTo(x + size * 0.44, y + size * 0.69);
      c.lineTo(x + size * 0.74, y + size * 0.33);
    });
  }

  private drawStage(): void {
    const { ctx, model, camera } = this;
    const s = camera.scale;
    const stageW = Math.max(4, Math.floor(model.width * 0.6)) * s;
    const stageX = (model.width * s - stageW) / 2 + camera.x;
    // At least 16 px tall where the margin above the map leaves room (the overview).
    const bottom = s * (STAGE_CELLS - 1) + camera.y;
    const h = Math.max(s * (STAGE_CELLS - 1.5), Math.min(16, bottom));
    const top = bottom - h;
    if (bottom < 0) return;
    ctx.fillStyle = COLORS.stage;
    ctx.fillRect(stageX, top, stageW, h);
    if (h >= 8) {
      ctx.fillStyle = "#ffffff";
      ctx.font = `600 ${Math.min(14, h * 0.8)}px system-ui, sans-serif`;
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText("STAGE", stageX + stageW / 2, top + h / 2);
    }
  }

  /** The overview's plate on a section: name, price, seats free and held. */
  private drawPlate(section: number): void {
    const { ctx, model, camera } = this;
    const box = model.sections[section];
    if (!box) return;
    const s = camera.scale;
    const cx = (box.x + box.w / 2) * s + camera.x;
    const cy = (box.y + box.h / 2) * s + camera.y;
    const boxW = box.w * s;
    const boxH = box.h * s;
    const sum = model.sectionSummary(section);
    if (SECTION_LABEL_CELLS * s >= 24) {
      // Seats large enough to see (a small venue): one line in the label row, seats uncovered.
      const text = `${box.name} · ${money(box.priceCents, this.currency)} · ${sum.available.toLocaleString()} free${sum.held ? ` · ${sum.held.toLocaleString()} held` : ""}`;
      ctx.font = "600 12px system-ui, sans-serif";
      const w = Math.min(ctx.measureText(text).width + 16, boxW - 4);
      const y = (box.y + SECTION_LABEL_CELLS / 2) * s + camera.y;
      ctx.fillStyle = COLORS.plate;
      ctx.strokeStyle = tierColor(section);
      ctx.lineWidth = 1.5;
      ctx.beginPath();
      ctx.roundRect(cx - w / 2, y - 11, w, 22, 6);
      ctx.fill();
      ctx.stroke();
      ctx.fillStyle = "#0f172a";
      ctx.textAlign = "center";
      ctx.textBaseline = "middle";
      ctx.fillText(text, cx, y, w - 8);
      return;
    }
    const lines: [string, string][] = [
      [`600 ${boxH >= 60 ? 14 : 12}px system-ui, sans-serif`, box.name],
      ["12px system-ui, sans-serif", money(box.priceCents, this.currency)],
      [
        "12px system-ui, sans-serif",
        `${sum.available.toLocaleString()} free${sum.held ? ` · ${sum.held.toLocaleString()} held` : ""}`,
      ],
    ];
    const shown = boxH >= 64 ? 3 : boxH >= 44 ? 2 : 1;
    const lineH = 16;
    const widths = lines.slice(0, shown).map(([font, text]) => {
      ctx.font = font;
      return ctx.measureText(text).width;
    });
    const plateW = Math.min(Math.max(...widths) + 16, Math.max(boxW - 4, 24));
    const plateH = shown * lineH + 8;
    ctx.fillStyle = COLORS.plate;
    ctx.strokeStyle = tierColor(section);
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    ctx.roundRect(cx - plateW / 2, cy - plateH / 2, plateW, plateH, 6);
    ctx.fill();
    ctx.stroke();
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    lines.slice(0, shown).forEach(([font, text], k) => {
      ctx.font = font;
      ctx.fillStyle = k === 0 ? "#0f172a" : k === 2 && sum.held ? "#78350f" : COLORS.text;
      ctx.fillText(text, cx, cy - plateH / 2 + 4 + lineH * (k + 0.5), plateW - 6);
    });
  }

  /** Row labels left of each row; a row that starts off screen keeps its label at the edge. */
  private drawRowLabels(): void {
    const { ctx, model, camera } = this;
    const s = camera.scale;
    if (s < ROW_LABEL_MIN_PX) return;
    const font = Math.min(12, s * 0.8);
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    ctx.textBaseline = "middle";
    ctx.textAlign = "center";
    const labelW = Math.max(font * 2.2, 20);
    for (const row of model.rows) {
      const y = (row.y + 0.5) * s + camera.y;
      if (y < -s || y > this.height + s || row.length === 0) continue;
      const start = row.x * s + camera.x;
      const end = (row.x + row.length) * s + camera.x;
      if (end < labelW || start > this.width) continue;
      const natural = start - s * 0.7;
      if (natural >= labelW / 2) {
        ctx.fillStyle = COLORS.text;
        ctx.fillText(row.label, natural, y);
      } else {
        // Sticky: on a plate at the left edge.
        ctx.fillStyle = COLORS.plate;
        ctx.beginPath();
        ctx.roundRect(2, y - font * 0.75, labelW, font * 1.5, 4);
        ctx.fill();
        ctx.fillStyle = "#0f172a";
        ctx.fillText(row.label, 2 + labelW / 2, y);
      }
    }
  }

  /** Each section's title above its rows, or at the top of the screen while its rows fill it. */
  private drawSectionTitles(): void {
    const { ctx, model, camera } = this;
    const s = camera.scale;
    const font = Math.min(14, Math.max(10, s * 1.1));
    ctx.font = `600 ${font}px system-ui, sans-serif`;
    ctx.textAlign = "center";
    ctx.textBaseline = "middle";
    for (const box of model.sections) {
      const left = Math.max(0, box.x * s + camera.x);
      const right = Math.min(this.width, (box.x + box.w) * s + camera.x);
      const top = box.y * s + camera.y;
      const bottom = (box.y + box.h) * s + camera.y;
      if (right - left < 30 || bottom < 0 || top > this.height) continue;
      const natural = top + (SECTION_LABEL_CELLS / 2) * s;
      const y = Math.min(Math.max(natural, font), bottom - font);
      const text = `${box.name} · ${money(box.priceCents, this.currency)}`;
      const cx = (left + right) / 2;
      if (y !== natural) {
        const w = Math.min(ctx.measureText(text).width + 16, right - left);
        ctx.fillStyle = COLORS.plate;
        ctx.beginPath();
        ctx.roundRect(cx - w / 2, y - font * 0.8, w, font * 1.6, 6);
        ctx.fill();
      }
      ctx.fillStyle = tierColor(box.index);
      ctx.fillText(text, cx, y, right - left - 8);
    }
  }
}

type TraceMark = (ctx: CanvasRenderingContext2D, x: number, y: number, size: number) => void;

function fillOf(color: string): string {
  switch (color) {
    case "selected":
      return COLORS.selected;
    case "held":
      return COLORS.held;
    case "sold":
      return COLORS.sold;
    case "notForSale":
      return COLORS.notForSale;
    case "unknown":
      return COLORS.unknown;
    default:
      return color;
  }
}

/** "#rrggbb" at an opacity. */
export function withAlpha(hex: string, alpha: number): string {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
