import { type EventSourceLike, LiveSeats, type SeatMapPoller } from "./live";
import type { SeatMapModel } from "./model";

// What the seat map's tests (*.test.ts) share: a section, and test doubles of the stream.

/** A section of two rows (4 and 2 seats). */
export const FLOOR = {
  id: "floor",
  name: "Floor",
  price_cents: 5500,
  rows: [
    { label: "A", count: 4 },
    { label: "B", count: 2 },
  ],
};

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/** An EventSource as the browser's behaves, driven by the test: messages (`emit`), the end of a
 * stream (`ended`, then `reopened`), giving up (`failed`). */
export class FakeSource implements EventSourceLike {
  readonly handlers = new Map<string, (e: MessageEvent<string>) => void>();
  onopen: ((e: Event) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  readyState = OPEN;
  closed = false;
  addEventListener(type: string, listener: (e: MessageEvent<string>) => void): void {
    this.handlers.set(type, listener);
  }
  close(): void {
    this.closed = true;
    this.readyState = CLOSED;
  }
  emit(type: string, data: unknown): void {
    this.handlers.get(type)?.({ data: JSON.stringify(data) } as MessageEvent<string>);
  }
  /** What the browser does when the server ends the stream: reconnecting, on its own. */
  ended(): void {
    this.readyState = CONNECTING;
    this.onerror?.(new Event("error"));
  }
  /** What it does when it gives up (an error answer such as 429). */
  failed(): void {
    this.readyState = CLOSED;
    this.onerror?.(new Event("error"));
  }
  reopened(): void {
    this.readyState = OPEN;
    this.onopen?.(new Event("open"));
  }
}

/** `model` kept live by a LiveSeats on fake sources: the sources it opened, in order, and what
 * it told its listeners (seat updates, connection states). `poll` is its fallback without a
 * stream (none: no fallback). */
export function openLive(model: SeatMapModel, poll: SeatMapPoller | null = null) {
  const sources: FakeSource[] = [];
  const live = new LiveSeats(
    model,
    "/stream",
    () => {
      const s = new FakeSource();
      sources.push(s);
      return s;
    },
    poll,
  );
  const updates: unknown[] = [];
  const states: string[] = [];
  live.subscribe((u) => updates.push(u));
  live.onConnection((c) => states.push(c));
  live.open();
  return { live, sources, updates, states };
}
