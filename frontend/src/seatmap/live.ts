// Live availability: GET /concerts/{id}/seats/stream (Server-Sent Events) applied to a model.
// A `snapshot` replaces every status; a `change` updates only the seats it names, and the
// listeners get exactly those seats to redraw.

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

const CLOSED = 2;

export class LiveSeats {
  private readonly listeners = new Set<UpdateListener>();
  private readonly connectionListeners = new Set<(c: Connection) => void>();
  private source: EventSourceLike | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
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
      this.model.applySnapshot(snapshot);
      this.snapshots++;
      this.emit("all");
      return "all";
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
      this.setConnection("live");
      this.handle("snapshot", e.data);
    });
    source.addEventListener("change", (e) => this.handle("change", e.data));
    source.onerror = () => {
      // The browser reconnects by itself (the server's `retry`) and a reconnect starts with a
      // fresh snapshot; if it gave up (an error answer), try again a little later.
      this.setConnection("reconnecting");
      if (source.readyState === CLOSED && this.source === source) {
        this.retryTimer = setTimeout(() => this.open(), 3000);
      }
    };
  }

  private closeSource(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.source?.close();
    this.source = null;
  }

  close(): void {
    this.closeSource();
    this.setConnection("closed");
  }
}
