import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { SeatMapSnapshot } from "../api/types";
import {
  FAILURES_BEFORE_FALLBACK,
  FALLBACK_AFTER_MS,
  POLL_INTERVAL_MS,
  RECONNECT_GRACE_MS,
  RETRY_AFTER_FAILURE_MS,
  STREAM_RETRY_MS,
} from "./live";
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

/** GET /seats for the fallback: each poll answers `answer` (a seat map, one still on its way,
 * or an error). */
function fakeSeatMap() {
  const server = {
    answer: snapshot(1, ["AAAA", "AA"]) as SeatMapSnapshot | Promise<SeatMapSnapshot> | Error,
    calls: 0,
    poll: async (): Promise<SeatMapSnapshot> => {
      server.calls++;
      const a = server.answer;
      if (a instanceof Error) throw a;
      return a;
    },
  };
  return server;
}

function setup() {
  const model = new SeatMapModel(layout);
  const server = fakeSeatMap();
  return { model, server, ...openLive(model, server.poll) };
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
    expect(live.polls).toBe(0); // a planned reconnect never falls back to polling
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
    expect(live.polls).toBe(0);
    live.close();
    expect(live.connection).toBe("closed");
  });
});

describe("LiveSeats without a stream (a proxy blocks it)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("polls the seat map when the stream never opens, applying only newer versions", async () => {
    const { model, server, live, sources, updates, states } = setup();
    const source = sources[0] as FakeSource;
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS - 1);
    expect(server.calls).toBe(0);
    expect(live.connection).toBe("connecting");

    await vi.advanceTimersByTimeAsync(1);
    expect(live.connection).toBe("polling");
    expect(source.closed).toBe(true); // the browser stops retrying it
    expect(server.calls).toBe(1);
    expect(updates).toEqual(["all"]); // the map is usable: picking works
    expect(live.snapshots).toBe(1);
    expect(model.version).toBe(1);

    // Someone holds floor-A-2: the next poll shows it, redrawing that seat only.
    server.answer = snapshot(2, ["AHAA", "AA"]);
    await vi.advanceTimersByTimeAsync(POLL_INTERVAL_MS - 1);
    expect(server.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(server.calls).toBe(2);
    expect(updates).toEqual(["all", [1]]);
    expect(model.status[1]).toBe(HELD);

    // An answer that is not newer (another server behind, a slow request) changes nothing.
    server.answer = snapshot(1, ["AAAA", "AA"]);
    await vi.advanceTimersByTimeAsync(POLL_INTERVAL_MS);
    expect(server.calls).toBe(3);
    expect(model.status[1]).toBe(HELD);
    expect(updates).toHaveLength(2);

    server.answer = snapshot(5, ["ASAA", "HA"]);
    await vi.advanceTimersByTimeAsync(POLL_INTERVAL_MS);
    expect(updates).toEqual(["all", [1], [1, 4]]);
    expect(model.status[1]).toBe(SOLD);
    expect(model.version).toBe(5);
    expect(states).toEqual(["polling"]);
    live.close();
  });

  it("falls back at once after repeated errors, before the deadline", async () => {
    const { server, live, sources } = setup();
    const source = sources[0] as FakeSource;
    for (let k = 1; k < FAILURES_BEFORE_FALLBACK; k++) {
      source.ended(); // the browser retries by itself (a proxy resets each connection)
      expect(live.connection).toBe("reconnecting");
    }
    expect(server.calls).toBe(0);
    source.ended();
    expect(live.connection).toBe("polling");
    await vi.advanceTimersByTimeAsync(0);
    expect(server.calls).toBe(1);
    expect(live.snapshots).toBe(1);
    live.close();
  });

  it("falls back when a live stream drops and does not come back", async () => {
    const { server, live, sources, states } = setup();
    const source = sources[0] as FakeSource;
    source.emit("snapshot", snapshot(3, ["AAAA", "AA"]));
    source.ended(); // the browser keeps retrying, and never gets through
    await vi.advanceTimersByTimeAsync(RECONNECT_GRACE_MS);
    expect(live.connection).toBe("reconnecting");
    expect(server.calls).toBe(0);
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS);
    expect(states).toEqual(["live", "reconnecting", "polling"]);
    expect(server.calls).toBe(1);
    live.close();
  });

  it("keeps trying the stream while polling, and goes live again when one works", async () => {
    const { server, live, sources, updates, states } = setup();
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS);
    expect(live.connection).toBe("polling");
    expect(sources).toHaveLength(1);

    // The first try fails at once: closed, polling goes on.
    await vi.advanceTimersByTimeAsync(STREAM_RETRY_MS);
    expect(sources).toHaveLength(2);
    const failing = sources[1] as FakeSource;
    failing.ended();
    expect(failing.closed).toBe(true);
    expect(live.connection).toBe("polling");

    // The second one connects but a buffering proxy holds its events back: closed too.
    await vi.advanceTimersByTimeAsync(STREAM_RETRY_MS);
    expect(sources).toHaveLength(3);
    const silent = sources[2] as FakeSource;
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS);
    expect(silent.closed).toBe(true);
    expect(live.connection).toBe("polling");

    // The third one delivers: live again, and the polling stops.
    await vi.advanceTimersByTimeAsync(STREAM_RETRY_MS - FALLBACK_AFTER_MS);
    const working = sources[3] as FakeSource;
    working.emit("snapshot", snapshot(7, ["AAAS", "AA"]));
    expect(live.connection).toBe("live");
    expect(updates).toEqual(["all", [3]]);
    const calls = server.calls;
    await vi.advanceTimersByTimeAsync(STREAM_RETRY_MS * 2);
    expect(server.calls).toBe(calls);
    expect(sources).toHaveLength(4);
    expect(working.closed).toBe(false);
    expect(states).toEqual(["polling", "live"]);
    live.close();
  });

  it("waits as long as the service asks when a poll is refused, and stops when closed", async () => {
    const { server, live } = setup();
    server.answer = Object.assign(new Error("Too many requests"), { retryAfter: 20 });
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS);
    expect(server.calls).toBe(1);
    expect(live.snapshots).toBe(0);
    await vi.advanceTimersByTimeAsync(POLL_INTERVAL_MS);
    expect(server.calls).toBe(1); // not before its Retry-After
    server.answer = snapshot(2, ["AAAA", "AA"]);
    await vi.advanceTimersByTimeAsync(20_000 - POLL_INTERVAL_MS);
    expect(server.calls).toBe(2);
    expect(live.snapshots).toBe(1);

    live.close();
    await vi.advanceTimersByTimeAsync(STREAM_RETRY_MS * 3);
    expect(server.calls).toBe(2);
    expect(live.connection).toBe("closed");
  });

  it("drops a seat map that arrives after the stream came back", async () => {
    const { model, server, live, sources } = setup();
    await vi.advanceTimersByTimeAsync(FALLBACK_AFTER_MS);
    let arrive: (s: SeatMapSnapshot) => void = () => {};
    server.answer = new Promise<SeatMapSnapshot>((resolve) => {
      arrive = resolve;
    });
    await vi.advanceTimersByTimeAsync(STREAM_RETRY_MS); // a poll is on its way; the stream is tried
    expect(server.calls).toBe(2); // no second poll while one is on its way
    (sources[1] as FakeSource).emit("snapshot", snapshot(9, ["SSSS", "AA"]));
    expect(live.connection).toBe("live");
    arrive(snapshot(10, ["AAAA", "AA"]));
    await vi.advanceTimersByTimeAsync(POLL_INTERVAL_MS * 3);
    expect(model.version).toBe(9);
    expect(model.status[0]).toBe(SOLD);
    expect(server.calls).toBe(2);
    live.close();
  });
});
