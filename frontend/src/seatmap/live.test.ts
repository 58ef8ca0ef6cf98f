import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SeatMapSnapshot } from "../api/types";
import { RECONNECT_GRACE_MS, RETRY_AFTER_FAILURE_MS } from "./live";
import { HELD, SeatMapModel, SOLD } from "./model";
import { type FakeSource, FLOOR, openLive } from "./testing";

// The server ends each seat stream after a while (SSE_MAX_STREAM_SECONDS) with a `retry:` hint;
// the browser's EventSource then reconnects by itself, the same object going CONNECTING (an
// `error` event) and then OPEN, and the new stream starts with a fresh snapshot.

const layout = {
  sections: [FLOOR],
};

function snapshot(version: number, rows: string[]): SeatMapSnapshot {
  return {
    concert_id: "c1",
    version,
    sections: [{ id: "floor", rows: rows.map((status, i) => ({ label: "AB"[i] ?? "?", status })) }],
    counts: { available: 0, held: 0, sold: 0 },
  } as unknown as SeatMapSnapshot;
}

function setup() {
  const model = new SeatMapModel(layout);
  return { model, ...openLive(model) };
}

describe("LiveSeats across the stream's planned end", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("stays live through the browser's reconnect and redraws only what changed", () => {
    const { model, live, sources, updates, states } = setup();
    const source = sources[0] as FakeSource;
    source.emit("snapshot", snapshot(3, ["AAAA", "AA"]));
    source.emit("change", { version: 4, seats: { "floor-A-2": "H" } });
    expect(updates).toEqual(["all", [1]]);

    source.ended(); // the lifetime is over
    vi.advanceTimersByTime(1000); // the server's `retry` hint
    source.reopened();
    // Meanwhile floor-A-2 was sold and floor-B-1 held: the fresh snapshot says so.
    source.emit("snapshot", snapshot(9, ["ASAA", "HA"]));

    expect(states).toEqual(["live"]); // never "Reconnecting…"
    expect(live.connection).toBe("live");
    expect(updates).toEqual(["all", [1], [1, 4]]); // no full redraw
    expect(model.status[1]).toBe(SOLD);
    expect(model.status[4]).toBe(HELD);
    expect(model.version).toBe(9);
    expect(sources).toHaveLength(1); // the browser's own reconnect, not a new stream of ours

    // A fresh snapshot identical to the map changes nothing at all.
    source.ended();
    source.reopened();
    source.emit("snapshot", snapshot(9, ["ASAA", "HA"]));
    expect(updates).toHaveLength(3);
    vi.advanceTimersByTime(RECONNECT_GRACE_MS * 2);
    expect(states).toEqual(["live"]);
    live.close();
  });

  it("says so when the reconnect takes longer than the grace", () => {
    const { live, sources, states } = setup();
    const source = sources[0] as FakeSource;
    source.emit("snapshot", snapshot(3, ["AAAA", "AA"]));
    source.ended();
    vi.advanceTimersByTime(RECONNECT_GRACE_MS - 1);
    expect(live.connection).toBe("live");
    vi.advanceTimersByTime(1);
    expect(live.connection).toBe("reconnecting");
    source.reopened();
    source.emit("snapshot", snapshot(4, ["AAAA", "AA"]));
    expect(states).toEqual(["live", "reconnecting", "live"]);
    live.close();
  });

  it("opens a new stream a little later when the browser gives up (e.g. a 429)", () => {
    const { live, sources, states } = setup();
    const source = sources[0] as FakeSource;
    source.emit("snapshot", snapshot(3, ["AAAA", "AA"]));
    source.failed();
    expect(live.connection).toBe("reconnecting"); // at once: no reconnect is under way
    vi.advanceTimersByTime(RETRY_AFTER_FAILURE_MS);
    expect(sources).toHaveLength(2);
    expect(source.closed).toBe(true);
    (sources[1] as FakeSource).emit("snapshot", snapshot(5, ["AAAA", "AA"]));
    expect(states).toEqual(["live", "reconnecting", "live"]);
    live.close();
    expect(live.connection).toBe("closed");
  });
});
