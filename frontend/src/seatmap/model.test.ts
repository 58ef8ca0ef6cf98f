import { describe, expect, it } from "vitest";
import type { SeatMapSnapshot } from "../api/types";
import {
  AVAILABLE,
  type Camera,
  clampCamera,
  fitCamera,
  HELD,
  hitTest,
  isOverview,
  MOUSE_SIZES,
  previewLayout,
  type RowBox,
  rowLabel,
  SECTION_GAP_CELLS,
  SECTION_LABEL_CELLS,
  SeatMapModel,
  type SectionBox,
  SIDE_CELLS,
  SOLD,
  STAGE_CELLS,
  seatOnScreen,
  sectionCamera,
  sectionInView,
  shelfLayout,
  showSeat,
  TOUCH_SIZES,
  toGrid,
  type Viewport,
  zoomAt,
} from "./model";
import { type FakeSource, FLOOR, openLive } from "./testing";

const layout = {
  sections: [
    FLOOR,
    {
      id: "balcony",
      name: "Balcony",
      price_cents: 4000,
      rows: [{ label: "A", count: 3 }],
    },
  ],
};

function snapshot(version: number, floor: string[], balcony: string[]): SeatMapSnapshot {
  return {
    concert_id: "c1",
    version,
    counts: { available: 0, held: 0, sold: 0 },
    sections: [
      { id: "floor", rows: floor.map((status, i) => ({ label: "AB"[i] as string, status })) },
      { id: "balcony", rows: balcony.map((status) => ({ label: "A", status })) },
    ],
  };
}

describe("SeatMapModel layout", () => {
  it("finds seats by id when section ids have dashes of their own", () => {
    const dashed = new SeatMapModel({
      sections: [
        { id: "lower-tier", name: "Lower Tier", price_cents: 1, rows: [{ label: "A", count: 2 }] },
        {
          id: "lower-tier-2",
          name: "Lower Tier",
          price_cents: 1,
          rows: [{ label: "A", count: 3 }],
        },
      ],
    });
    expect(dashed.indexOf("lower-tier-A-2")).toBe(1);
    expect(dashed.indexOf("lower-tier-2-A-3")).toBe(4);
    expect(dashed.idOf(4)).toBe("lower-tier-2-A-3");
    expect(dashed.indexOf("lower-tier-2-A-4")).toBe(-1);
  });

  const model = new SeatMapModel(layout);

  it("indexes every seat in row order", () => {
    expect(model.count).toBe(9);
    expect([0, 1, 2, 3].map((i) => model.idOf(i))).toEqual([
      "floor-A-1",
      "floor-A-2",
      "floor-A-3",
      "floor-A-4",
    ]);
    expect(model.idOf(model.count - 1)).toBe("balcony-A-3");
    for (const bad of [
      "floor-A-0",
      "floor-A-5",
      "floor-A-01",
      "floor-A-1.0",
      "floor-Z-1",
      "floor",
      "-A-1",
    ]) {
      expect(model.indexOf(bad)).toBe(-1);
    }
    // Every seat's id leads back to it.
    for (let i = 0; i < model.count; i++) expect(model.indexOf(model.idOf(i))).toBe(i);
    expect(model.indexOf("balcony-A-3")).toBe(8);
    expect(model.indexOf("nope")).toBe(-1);
  });

  it("places sections under the stage with rows centred", () => {
    expect(model.width).toBe(4 + 2 * SIDE_CELLS);
    const firstRowY = STAGE_CELLS + SECTION_LABEL_CELLS;
    expect(model.seatY[0]).toBe(firstRowY);
    expect(model.seatX[0]).toBe(SIDE_CELLS);
    // Row B has 2 seats in a 4-wide map: it starts one cell in.
    const b1 = model.indexOf("floor-B-1");
    expect(model.seatY[b1]).toBe(firstRowY + 1);
    expect(model.seatX[b1]).toBe(SIDE_CELLS + 1);
    // The balcony comes after a gap and its own label.
    expect(model.seatY[model.indexOf("balcony-A-1")]).toBe(firstRowY + 2 + 1 + SECTION_LABEL_CELLS);
  });

  it("finds the seat in a grid cell (hit testing)", () => {
    for (let i = 0; i < model.count; i++) {
      expect(model.seatAt(model.seatX[i] as number, model.seatY[i] as number)).toBe(i);
    }
    expect(model.seatAt(0, 0)).toBe(-1);
    expect(model.seatAt(-1, 5)).toBe(-1);
    expect(model.seatAt(model.width, 5)).toBe(-1);
  });

  it("describes seats for people", () => {
    expect(model.label(model.indexOf("floor-B-2"))).toBe("Floor, row B, seat 2");
    expect(model.describe(8)).toEqual({
      section: "Balcony",
      row: "A",
      number: 3,
      priceCents: 4000,
    });
  });
});

describe("SeatMapModel live status", () => {
  it("starts unknown: nothing pickable before the first snapshot", () => {
    const model = new SeatMapModel(layout);
    expect(model.isAvailable(0)).toBe(false);
    expect(model.counts()).toMatchObject({ available: 0, held: 0, sold: 0 });
  });

  it("applies a snapshot and keeps counts", () => {
    const model = new SeatMapModel(layout);
    model.applySnapshot(snapshot(5, ["AAHS", "XA"], ["SSA"]));
    expect(model.version).toBe(5);
    expect(model.status[2]).toBe(HELD);
    expect(model.status[3]).toBe(SOLD);
    expect(model.counts()).toEqual({ available: 4, held: 1, sold: 3, notForSale: 1 });
    expect(model.sectionCounts(1)).toEqual({ available: 1, held: 0, sold: 2 });
  });

  it("applies newer changes to the named seats only and ignores stale ones", () => {
    const model = new SeatMapModel(layout);
    model.applySnapshot(snapshot(5, ["AAAA", "AA"], ["AAA"]));
    const changed = model.applyChange({
      version: 6,
      seats: { "floor-A-1": "H", "balcony-A-2": "S" },
    });
    expect(changed).toEqual([0, 7]);
    expect(model.counts()).toMatchObject({ available: 7, held: 1, sold: 1 });
    // The same or an older version again: nothing happens.
    expect(model.applyChange({ version: 6, seats: { "floor-A-1": "A" } })).toBeNull();
    expect(model.applyChange({ version: 4, seats: { "floor-A-1": "A" } })).toBeNull();
    expect(model.status[0]).toBe(HELD);
    // Unknown seats are skipped, an unchanged seat is not reported.
    expect(model.applyChange({ version: 7, seats: { ghost: "S", "floor-A-1": "H" } })).toEqual([]);
    // A fresh snapshot after a reconnect wins.
    model.applySnapshot(snapshot(9, ["AAAA", "AA"], ["AAA"]));
    expect(model.status[0]).toBe(AVAILABLE);
    expect(model.counts().available).toBe(9);
  });

  it("treats a short snapshot row as unknown seats", () => {
    const model = new SeatMapModel(layout);
    model.applySnapshot(snapshot(1, ["AA", "AA"], []));
    expect(model.isAvailable(1)).toBe(true);
    expect(model.isAvailable(2)).toBe(false);
    expect(model.isAvailable(8)).toBe(false);
  });
});

describe("keyboard navigation", () => {
  const model = new SeatMapModel(layout);
  model.applySnapshot(snapshot(1, ["SAAA", "AA"], ["AAA"]));

  it("moves within a row and stops at its ends", () => {
    expect(model.move(0, "right")).toBe(1);
    expect(model.move(0, "left")).toBe(0);
    expect(model.move(3, "right")).toBe(3);
    expect(model.move(2, "home")).toBe(0);
    expect(model.move(0, "end")).toBe(3);
  });

  it("moves between rows to the nearest column, across sections", () => {
    // floor-A-1 sits left of row B: down goes to B-1; floor-A-4 down goes to B-2.
    expect(model.move(0, "down")).toBe(model.indexOf("floor-B-1"));
    expect(model.move(3, "down")).toBe(model.indexOf("floor-B-2"));
    expect(model.move(model.indexOf("floor-B-2"), "down")).toBe(model.indexOf("balcony-A-3"));
    expect(model.move(model.indexOf("balcony-A-1"), "up")).toBe(model.indexOf("floor-B-1"));
    expect(model.move(0, "up")).toBe(0);
  });

  it("jumps sections and finds the next available seat", () => {
    expect(model.move(1, "pagedown")).toBe(model.indexOf("balcony-A-1"));
    expect(model.move(8, "pageup")).toBe(0);
    expect(model.nextAvailable(-1)).toBe(1);
    expect(model.nextAvailable(8)).toBe(1);
  });
});

describe("a 50,000-seat stadium", () => {
  const stadium = previewLayout([
    { name: "Pitch", price_cents: 12000, rows: 50, seats_per_row: 200 },
    { name: "Lower Tier", price_cents: 8500, rows: 100, seats_per_row: 200 },
    { name: "Upper Tier", price_cents: 5500, rows: 100, seats_per_row: 200 },
  ]);

  it("builds, snapshots and applies a change quickly", () => {
    const started = performance.now();
    const model = new SeatMapModel(stadium);
    expect(model.count).toBe(50_000);
    const snap: SeatMapSnapshot = {
      concert_id: "big",
      version: 1,
      counts: { available: 50_000, held: 0, sold: 0 },
      sections: stadium.sections.map((s) => ({
        id: s.id,
        rows: s.rows.map((r) => ({ label: r.label, status: "A".repeat(r.count) })),
      })),
    };
    model.applySnapshot(snap);
    const changed = model.applyChange({ version: 2, seats: { "s1-CV-200": "S" } });
    const elapsed = performance.now() - started;
    expect(changed).toHaveLength(1);
    expect(model.counts()).toMatchObject({ available: 49_999, sold: 1 });
    expect(elapsed).toBeLessThan(1000);
    const last = model.indexOf("s1-CV-200");
    expect(model.seatAt(model.seatX[last] as number, model.seatY[last] as number)).toBe(last);
  });
});

describe("row labels", () => {
  it("match the service: A..Z, then AA, AB", () => {
    expect(rowLabel(0)).toBe("A");
    expect(rowLabel(25)).toBe("Z");
    expect(rowLabel(26)).toBe("AA");
    expect(rowLabel(27)).toBe("AB");
    expect(rowLabel(99)).toBe("CV");
  });
});

describe("LiveSeats (the SSE stream)", () => {
  it("goes live on the snapshot and hands listeners only the changed seats", () => {
    const model = new SeatMapModel(layout);
    const { live, sources, updates, states } = openLive(model);
    const source = sources[0] as FakeSource;
    source.emit("snapshot", snapshot(3, ["AAAA", "AA"], ["AAA"]));
    source.emit("change", { version: 4, seats: { "floor-A-2": "H", "floor-A-3": "H" } });
    source.emit("change", { version: 4, seats: { "floor-A-2": "A" } }); // stale: ignored
    source.emit("change", { version: 5, seats: { "floor-A-2": "S" } });
    expect(updates).toEqual(["all", [1, 2], [1]]);
    expect(states).toEqual(["live"]);
    expect(model.status[1]).toBe(SOLD);
    source.onerror?.(new Event("error"));
    expect(live.connection).toBe("reconnecting");
    live.close();
    expect(source.closed).toBe(true);
  });
});

describe("the sections overview", () => {
  // Ten blocks of 5 rows x 10 seats: laid out two per shelf (the map about as tall as wide).
  const blocks = previewLayout(
    Array.from({ length: 10 }, (_, k) => ({
      name: `Block ${k + 1}`,
      price_cents: 4000 + 1000 * k,
      rows: 5,
      seats_per_row: 10,
    })),
  );
  const model = new SeatMapModel(blocks);

  it("places each section as a block of its rows, in shelves under the stage", () => {
    const w = 10 + 2 * SIDE_CELLS;
    const h = SECTION_LABEL_CELLS + 5;
    expect(model.sections.map((b) => [b.w, b.h])).toEqual(Array(10).fill([w, h]));
    const [first, second, third] = model.sections as [SectionBox, SectionBox, SectionBox];
    expect([first.x, first.y]).toEqual([0, STAGE_CELLS]);
    expect([second.x, second.y]).toEqual([w + SECTION_GAP_CELLS, STAGE_CELLS]);
    expect([third.x, third.y]).toEqual([0, STAGE_CELLS + h + SECTION_GAP_CELLS]);
    expect(model.width).toBe(2 * w + SECTION_GAP_CELLS);
    expect(model.height).toBe(STAGE_CELLS + 5 * (h + SECTION_GAP_CELLS));
    // Every seat sits inside its section's block, below the label.
    for (let i = 0; i < model.count; i++) {
      const b = model.sectionOf(i);
      expect(model.seatSection[i]).toBe(b.index);
      expect(model.seatX[i]).toBeGreaterThanOrEqual(b.x + SIDE_CELLS);
      expect(model.seatX[i]).toBeLessThan(b.x + b.w - SIDE_CELLS);
      expect(model.seatY[i]).toBeGreaterThanOrEqual(b.y + SECTION_LABEL_CELLS);
      expect(model.seatY[i]).toBeLessThan(b.y + b.h);
    }
  });

  it("keeps one section per shelf when stacking is closest to square", () => {
    expect(
      shelfLayout([
        { w: 10, h: 8 },
        { w: 10, h: 4 },
      ]).boxes,
    ).toEqual([
      { x: 0, y: STAGE_CELLS },
      { x: 0, y: STAGE_CELLS + 8 + SECTION_GAP_CELLS },
    ]);
    // Three wide blocks side by side would be far wider than tall: stacked.
    expect(
      shelfLayout([
        { w: 206, h: 52 },
        { w: 206, h: 102 },
        { w: 206, h: 102 },
      ]).boxes.map((b) => b.x),
    ).toEqual([0, 0, 0]);
  });

  it("counts each section's seats by status, live", () => {
    const live = new SeatMapModel(layout);
    expect(live.sectionSummary(0)).toEqual({
      available: 0,
      held: 0,
      sold: 0,
      notForSale: 0,
      unknown: 6,
      total: 6,
    });
    live.applySnapshot(snapshot(1, ["AAHS", "XA"], ["HHA"]));
    expect(live.sectionSummary(0)).toEqual({
      available: 3,
      held: 1,
      sold: 1,
      notForSale: 1,
      unknown: 0,
      total: 6,
    });
    expect(live.sectionSummary(1)).toMatchObject({ available: 1, held: 2, sold: 0 });
    live.applyChange({ version: 2, seats: { "balcony-A-1": "S", "floor-A-1": "H" } });
    expect(live.sectionSummary(0)).toMatchObject({ available: 2, held: 2, sold: 1 });
    expect(live.sectionSummary(1)).toMatchObject({ available: 1, held: 1, sold: 1 });
    expect(live.sectionCounts(1)).toEqual({ available: 1, held: 1, sold: 1 });
    // A fresh snapshot recounts.
    live.applySnapshot(snapshot(3, ["AAAA", "AA"], ["AAA"]));
    expect(live.sectionSummary(0)).toMatchObject({ available: 6, held: 0, sold: 0 });
    expect(live.sectionSummary(5)).toMatchObject({ total: 0 });
  });

  it("finds the section whose block holds a grid point", () => {
    for (const b of model.sections) {
      expect(model.sectionAt(b.x, b.y)).toBe(b.index);
      expect(model.sectionAt(b.x + b.w - 0.01, b.y + b.h - 0.01)).toBe(b.index);
      expect(model.sectionAt(b.x + b.w / 2, b.y + b.h / 2)).toBe(b.index);
    }
    expect(model.sectionAt(1, 1)).toBe(-1); // the stage
    const first = model.sections[0] as SectionBox;
    expect(model.sectionAt(first.x + first.w + 0.5, first.y + 1)).toBe(-1); // the gap
  });
});

describe("zooming: fit, a section, back", () => {
  const stadium = previewLayout(
    Array.from({ length: 10 }, (_, k) => ({
      name: `Block ${k + 1}`,
      price_cents: 5000,
      rows: 50,
      seats_per_row: 100,
    })),
  );
  const model = new SeatMapModel(stadium);
  const phone: Viewport = { width: 358, height: 506 };
  const screenOf = (cam: Camera, gx: number, gy: number): [number, number] => [
    gx * cam.scale + cam.x,
    gy * cam.scale + cam.y,
  ];

  it("fits the whole map to a phone's width as the overview", () => {
    const fit = fitCamera(model, phone, TOUCH_SIZES);
    expect(model.width * fit.scale).toBeCloseTo(phone.width);
    expect(model.height * fit.scale).toBeLessThanOrEqual(phone.height);
    expect(fit.x).toBeCloseTo(0);
    expect(isOverview(fit, TOUCH_SIZES)).toBe(true);
    // A small venue shows its seats directly, no larger than fitMax.
    const small = new SeatMapModel(layout);
    const smallFit = fitCamera(small, { width: 1000, height: 600 }, MOUSE_SIZES);
    expect(smallFit.scale).toBe(MOUSE_SIZES.fitMax);
    expect(isOverview(smallFit, MOUSE_SIZES)).toBe(false);
  });

  it("hit tests sections at the overview, seats once zoomed, and goes back", () => {
    const fit = fitCamera(model, phone, TOUCH_SIZES);
    // At the overview every section's middle answers that section; the stage, nothing.
    for (const b of model.sections) {
      const [px, py] = screenOf(fit, b.x + b.w / 2, b.y + b.h / 2);
      expect(hitTest(model, fit, px, py, TOUCH_SIZES)).toEqual({
        kind: "section",
        section: b.index,
      });
    }
    expect(hitTest(model, fit, ...screenOf(fit, 1, 1), TOUCH_SIZES)).toBeNull();

    // Tap block 4: its seats are at least 24 px, it fills the screen, its front row shows.
    const zoomed = sectionCamera(model, 3, phone, TOUCH_SIZES);
    expect(zoomed.scale).toBeGreaterThanOrEqual(24);
    expect(isOverview(zoomed, TOUCH_SIZES)).toBe(false);
    expect(sectionInView(model, zoomed, phone)).toBe(3);
    const box = model.sections[3] as SectionBox;
    const front = (model.rows[box.firstRow] as RowBox).firstSeat + 50;
    const at = seatOnScreen(model, zoomed, front);
    expect(at.size).toBe(zoomed.scale);
    expect(at.top).toBeGreaterThanOrEqual(0);
    expect(at.left).toBeGreaterThanOrEqual(0);
    expect(at.left + at.size).toBeLessThanOrEqual(phone.width);
    // Every seat on screen is hit at its middle and at its corners' insides.
    for (const [dx, dy] of [
      [0.5, 0.5],
      [0.05, 0.05],
      [0.95, 0.95],
    ] as const) {
      expect(
        hitTest(model, zoomed, at.left + at.size * dx, at.top + at.size * dy, TOUCH_SIZES),
      ).toEqual({ kind: "seat", seat: front });
    }
    // Between seats' labels (left of the rows) nothing is hit.
    const [lx, ly] = screenOf(zoomed, box.x + 1, box.y + SECTION_LABEL_CELLS + 0.5);
    expect(hitTest(model, zoomed, lx, ly, TOUCH_SIZES)).toBeNull();

    // Back: the fit camera again, sections hit again.
    const back = fitCamera(model, phone, TOUCH_SIZES);
    expect(back).toEqual(fit);
    const [px, py] = screenOf(back, box.x + box.w / 2, box.y + box.h / 2);
    expect(hitTest(model, back, px, py, TOUCH_SIZES)).toEqual({ kind: "section", section: 3 });
  });

  it("zooms about a point and keeps the map on screen", () => {
    const fit = fitCamera(model, phone, TOUCH_SIZES);
    // Zooming out of the fit stays at the fit; in, the point under the fingers stays.
    expect(zoomAt(model, fit, 0.5, 100, 100, phone, TOUCH_SIZES)).toEqual(fit);
    const [gx, gy] = toGrid(fit, 180, 250);
    const zoomed = zoomAt(model, fit, 4, 180, 250, phone, TOUCH_SIZES);
    expect(zoomed.scale).toBeCloseTo(fit.scale * 4);
    const [hx, hy] = toGrid(zoomed, 180, 250);
    expect(hx).toBeCloseTo(gx);
    expect(hy).toBeCloseTo(gy);
    expect(zoomAt(model, fit, 1000, 0, 0, phone, TOUCH_SIZES).scale).toBe(TOUCH_SIZES.max);
    // Dragged far past an edge: clamped to the map's edge.
    const dragged = clampCamera(model, { ...zoomed, x: 5000, y: -1e6 }, phone, TOUCH_SIZES);
    expect(dragged.x).toBe(0);
    expect(dragged.y).toBeCloseTo(phone.height - model.height * zoomed.scale);
  });

  it("follows the keyboard cursor: into its section from the overview, then panning", () => {
    const fit = fitCamera(model, phone, TOUCH_SIZES);
    const seat = model.indexOf("s6-C-90");
    const shown = showSeat(model, fit, seat, phone, TOUCH_SIZES);
    expect(isOverview(shown, TOUCH_SIZES)).toBe(false);
    const at = seatOnScreen(model, shown, seat);
    expect(at.left).toBeGreaterThanOrEqual(0);
    expect(at.left + at.size).toBeLessThanOrEqual(phone.width);
    expect(at.top).toBeGreaterThanOrEqual(0);
    expect(at.top + at.size).toBeLessThanOrEqual(phone.height);
    expect(hitTest(model, shown, at.left + 1, at.top + 1, TOUCH_SIZES)).toEqual({
      kind: "seat",
      seat,
    });
    // A seat already in view: the camera stays.
    expect(showSeat(model, shown, seat, phone, TOUCH_SIZES)).toEqual(shown);
    // Page Down to the next section, off screen: that section is shown.
    const next = model.move(seat, "pagedown");
    expect(model.seatSection[next]).toBe(7);
    expect(sectionInView(model, shown, phone)).toBe(6);
    const jumped = showSeat(model, shown, next, phone, TOUCH_SIZES);
    expect(sectionInView(model, jumped, phone)).toBe(7);
    // The whole small map on screen: moving between its sections moves nothing.
    const small = new SeatMapModel(layout);
    const wide: Viewport = { width: 1000, height: 600 };
    const whole = fitCamera(small, wide, MOUSE_SIZES);
    expect(showSeat(small, whole, small.indexOf("balcony-A-2"), wide, MOUSE_SIZES)).toEqual(whole);
  });
});

describe("a small section on a phone", () => {
  it("fits its seats to the screen's width when they are big enough", () => {
    // Ten seats a row: the map is too narrow for 24 px seats at fit (the overview), but the
    // zoomed section shows all ten at once, as large as the width allows (ten seats and a
    // cell either side: row labels stay in view by themselves), no dragging.
    const model = new SeatMapModel(
      previewLayout([
        { name: "Floor", price_cents: 5500, rows: 4, seats_per_row: 10 },
        { name: "Balcony", price_cents: 4000, rows: 2, seats_per_row: 8 },
      ]),
    );
    const phone: Viewport = { width: 358, height: 506 };
    expect(isOverview(fitCamera(model, phone, TOUCH_SIZES), TOUCH_SIZES)).toBe(true);
    const cam = sectionCamera(model, 0, phone, TOUCH_SIZES);
    expect(cam.scale).toBeCloseTo(phone.width / 12);
    expect(cam.scale).toBeGreaterThanOrEqual(TOUCH_SIZES.section);
    const row = model.rows[0] as RowBox;
    const first = seatOnScreen(model, cam, row.firstSeat);
    const last = seatOnScreen(model, cam, row.firstSeat + row.length - 1);
    expect(first.left).toBeGreaterThanOrEqual(0);
    expect(last.left + last.size).toBeLessThanOrEqual(phone.width);
  });
});
