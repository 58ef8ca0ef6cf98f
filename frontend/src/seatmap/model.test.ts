import { describe, expect, it } from "vitest";
import type { SeatMapSnapshot } from "../api/types";
import {
  AVAILABLE,
  HELD,
  previewLayout,
  rowLabel,
  SECTION_LABEL_CELLS,
  SeatMapModel,
  SIDE_CELLS,
  SOLD,
  STAGE_CELLS,
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
  const model = new SeatMapModel(layout);

  it("indexes every seat in row order", () => {
    expect(model.count).toBe(9);
    expect(model.ids.slice(0, 4)).toEqual(["floor-A-1", "floor-A-2", "floor-A-3", "floor-A-4"]);
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
