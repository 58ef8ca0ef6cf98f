// Live availability: GET /concerts/{id}/seats/stream (Server-Sent Events) applied to a model.
// A `snapshot` replaces every status; a `change` updates only the seats it names, and the
// listeners get exactly those seats to redraw.
//
// The server ends every stream after a while (SSE_MAX_STREAM_SECONDS, spread per stream) with
// a `retry:` hint; the browser's EventSource reconnects by itself (sending Last-Event-ID) and
// the new stream starts with a fresh snapshot. That planned reconnect must not show: the map
// stays "live" through it unless it takes longer than RECONNECT_GRACE_MS, and the fresh
// snapshot redraws only the seats that differ from what the map shows.

import type { SeatChange, SeatMapSnapshot } from "../api/types";
import type { SeatMapModel } from "./model";

export type Connection = "connecting" | "live" | "reconnecting" | "closed";

/** Seats whose status changed, or "all" after a snapshot. */
export type SeatUpdate = number[] | "all";

export type UpdateListener = (update: SeatUpdate) => void;

export interface EventSourceLike {
  addEventListener(type: string, listener: (event: MessageEvent<string>) => void): void;
  close(): void;
  onopen: ((event: Event) => void) | null;
  onerror: ((event: Event) => void) | null;
  readonly readyState: number;
}

export type EventSourceFactory = (url: string) => EventSourceLike;

const CONNECTING = 0;
const CLOSED = 2;
/** How long the browser's own reconnection may take before the map says "Reconnecting…". */
export const RECONNECT_GRACE_MS = 5000;
/** After a stream that failed for good (an error answer, e.g. 429), the next try. */
export const RETRY_AFTER_FAILURE_MS = 3000;

export class LiveSeats {
  private readonly listeners = new Set<UpdateListener>();
  private readonly connectionListeners = new Set<(c: Connection) => void>();
  private source: EventSourceLike | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private graceTimer: ReturnType<typeof setTimeout> | null = null;
  connection: Connection = "connecting";
  /** Snapshots received: the first one makes the map usable. */
  snapshots = 0;

  constructor(
    readonly model: SeatMapModel,
    private readonly url: string,
    private readonly factory: EventSourceFactory = (u) =>
      new EventSource(u) as unknown as EventSourceLike,
  ) {}

  subscribe(listener: UpdateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  onConnection(listener: (c: Connection) => void): () => void {
    this.connectionListeners.add(listener);
    return () => this.connectionListeners.delete(listener);
  }

  private setConnection(c: Connection): void {
    if (this.connection === c) return;
    this.connection = c;
    for (const l of this.connectionListeners) l(c);
  }

  private emit(update: SeatUpdate): void {
    for (const l of this.listeners) l(update);
  }

  /** Apply one SSE event (exposed for tests); returns what changed. */
  handle(type: string, data: string): SeatUpdate | null {
    if (type === "snapshot") {
      const snapshot = JSON.parse(data) as SeatMapSnapshot;
      if (this.snapshots === 0) {
        this.model.applySnapshot(snapshot);
        this.snapshots++;
        this.emit("all");
        return "all";
      }
      // A reconnect's fresh snapshot: only the seats that differ from the map are news.
      const before = this.model.status.slice();
      this.model.applySnapshot(snapshot);
      this.snapshots++;
      const changed: number[] = [];
      const after = this.model.status;
      for (let i = 0; i < after.length; i++) if (after[i] !== before[i]) changed.push(i);
      if (changed.length) this.emit(changed);
      return changed;
    }
    if (type === "change") {
      const changed = this.model.applyChange(JSON.parse(data) as SeatChange);
      if (changed?.length) this.emit(changed);
      return changed;
    }
    return null;
  }

  open(): void {
    this.closeSource();
    this.setConnection(this.snapshots ? "reconnecting" : "connecting");
    const source = this.factory(this.url);
    this.source = source;
    source.addEventListener("snapshot", (e) => {
      this.clearGrace();
      this.setConnection("live");
      this.handle("snapshot", e.data);
    });
    source.addEventListener("change", (e) => this.handle("change", e.data));
    source.onerror = () => {
      if (this.source !== source) return;
      // The browser reconnects by itself (the server's `retry`), and a reconnect starts with
      // a fresh snapshot: while the map is live that is the stream's planned end, so it stays
      // live unless the snapshot is late.
      if (source.readyState === CONNECTING && this.connection === "live") {
        this.graceTimer ??= setTimeout(() => {
          this.graceTimer = null;
          this.setConnection("reconnecting");
        }, RECONNECT_GRACE_MS);
        return;
      }
      this.clearGrace();
      this.setConnection("reconnecting");
      // It gave up (an error answer, e.g. 429 or 503): try again a little later.
      if (source.readyState === CLOSED) {
        this.retryTimer = setTimeout(() => this.open(), RETRY_AFTER_FAILURE_MS);
      }
    };
  }

  private clearGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = null;
  }

  private closeSource(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.clearGrace();
    this.source?.close();
    this.source = null;
  }

  close(): void {
    this.closeSource();
    this.setConnection("closed");
  }
}
