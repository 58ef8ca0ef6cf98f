// Live availability: GET /concerts/{id}/seats/stream (Server-Sent Events) applied to a model.
// A `snapshot` replaces every status; a `change` updates only the seats it names, and the
// listeners get exactly those seats to redraw.
//
// The server ends every stream after a while (SSE_MAX_STREAM_SECONDS, spread per stream) with
// a `retry:` hint; the browser's EventSource reconnects by itself (sending Last-Event-ID) and
// the new stream starts with a fresh snapshot. That planned reconnect must not show: the map
// stays "live" through it unless it takes longer than RECONNECT_GRACE_MS, and the fresh
// snapshot redraws only the seats that differ from what the map shows.
//
// Without a stream (a proxy blocks or buffers it, the streams are at capacity) the sale goes
// on: when no snapshot came from the stream for FALLBACK_AFTER_MS, or it failed
// FAILURES_BEFORE_FALLBACK times in a row, the map polls GET /concerts/{id}/seats every
// POLL_INTERVAL_MS (connection "polling"), applies a snapshot only when its version is newer
// than the map's, and tries the stream again every STREAM_RETRY_MS; the first snapshot of a
// stream that works ends the polling.

import type { SeatChange, SeatMapSnapshot } from "../api/types";
import type { SeatMapModel } from "./model";

/** `polling`: no stream; the seat map is fetched every few seconds instead. */
export type Connection = "connecting" | "live" | "reconnecting" | "polling" | "closed";

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

/** The seat map with its version (GET /concerts/{id}/seats): the fallback without a stream. */
export type SeatMapPoller = () => Promise<SeatMapSnapshot>;

const CONNECTING = 0;
const CLOSED = 2;
/** How long the browser's own reconnection may take before the map says "Reconnecting…". */
export const RECONNECT_GRACE_MS = 5000;
/** After a stream that failed for good (an error answer, e.g. 429), the next try. */
export const RETRY_AFTER_FAILURE_MS = 3000;
/** No snapshot from the stream for this long (it never opened, a proxy holds its events back,
 * a reconnect that does not come back): poll instead. Also how long a new try of the stream
 * gets, while polling, to send its first snapshot. */
export const FALLBACK_AFTER_MS = 4000;
/** Stream errors in a row without a snapshot between them that start the polling at once. */
export const FAILURES_BEFORE_FALLBACK = 3;
/** While polling: how often the seat map is fetched (longer when the service says so). */
export const POLL_INTERVAL_MS = 4000;
/** While polling: how often the stream is tried again. */
export const STREAM_RETRY_MS = 30_000;

type Timer = ReturnType<typeof setTimeout>;

export class LiveSeats {
  private readonly listeners = new Set<UpdateListener>();
  private readonly connectionListeners = new Set<(c: Connection) => void>();
  private source: EventSourceLike | null = null;
  private retryTimer: Timer | null = null;
  private graceTimer: Timer | null = null;
  private fallbackTimer: Timer | null = null;
  private pollTimer: Timer | null = null;
  private streamRetryTimer: Timer | null = null;
  /** Stream errors since its last snapshot. */
  private failures = 0;
  private polling = false;
  /** Bumped when polling stops: a seat map that arrives later is dropped. */
  private pollEpoch = 0;
  connection: Connection = "connecting";
  /** Snapshots received (streamed or polled): the first one makes the map usable. */
  snapshots = 0;
  /** Seat maps fetched while polling (for tests and diagnostics). */
  polls = 0;

  constructor(
    readonly model: SeatMapModel,
    private readonly url: string,
    private readonly factory: EventSourceFactory = (u) =>
      new EventSource(u) as unknown as EventSourceLike,
    /** Without one, there is no fallback: the map waits for the stream. */
    private readonly poll: SeatMapPoller | null = null,
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
    if (type === "snapshot") return this.applySnapshot(JSON.parse(data) as SeatMapSnapshot);
    if (type === "change") {
      const changed = this.model.applyChange(JSON.parse(data) as SeatChange);
      if (changed?.length) this.emit(changed);
      return changed;
    }
    return null;
  }

  /** A seat map fetched apart from the stream (the page's first GET /seats, a poll): applied
   * when it is the first one or newer than what the map shows, else dropped. */
  offer(snapshot: SeatMapSnapshot): void {
    // Only a newer map: an older answer (another server, a slow request) would undo news.
    if (this.snapshots === 0 || snapshot.version > this.model.version) {
      this.applySnapshot(snapshot);
    }
  }

  private applySnapshot(snapshot: SeatMapSnapshot): SeatUpdate {
    if (this.snapshots === 0) {
      this.model.applySnapshot(snapshot);
      this.snapshots++;
      this.emit("all");
      return "all";
    }
    // A reconnect's fresh snapshot, or a polled one: only the seats that differ are news.
    const before = this.model.status.slice();
    this.model.applySnapshot(snapshot);
    this.snapshots++;
    const changed: number[] = [];
    const after = this.model.status;
    for (let i = 0; i < after.length; i++) if (after[i] !== before[i]) changed.push(i);
    if (changed.length) this.emit(changed);
    return changed;
  }

  open(): void {
    this.stopPolling();
    this.clearFallback();
    this.failures = 0;
    this.connect();
  }

  /** Open a stream. While polling it is a try: it ends the polling with its first snapshot,
   * or is closed when it fails or stays silent. */
  private connect(): void {
    this.closeSource();
    const source = this.factory(this.url);
    this.source = source;
    if (this.polling) {
      this.clearFallback();
      this.fallbackTimer = setTimeout(() => {
        this.fallbackTimer = null;
        if (this.source === source) this.closeSource();
      }, FALLBACK_AFTER_MS);
    } else {
      this.setConnection(this.snapshots ? "reconnecting" : "connecting");
      this.armFallback();
    }
    source.addEventListener("snapshot", (e) => {
      if (this.source !== source) return;
      this.clearGrace();
      this.clearFallback();
      this.stopPolling();
      this.failures = 0;
      this.setConnection("live");
      this.handle("snapshot", e.data);
    });
    source.addEventListener("change", (e) => {
      if (this.source === source) this.handle("change", e.data);
    });
    source.onerror = () => {
      if (this.source !== source) return;
      // A try while polling that failed: polling goes on, the next try is scheduled.
      if (this.polling) {
        this.clearFallback();
        this.closeSource();
        return;
      }
      // The browser reconnects by itself (the server's `retry`), and a reconnect starts with
      // a fresh snapshot: while the map is live that is the stream's planned end, so it stays
      // live unless the snapshot is late.
      if (source.readyState === CONNECTING && this.connection === "live") {
        this.graceTimer ??= setTimeout(() => {
          this.graceTimer = null;
          this.setConnection("reconnecting");
          this.armFallback();
        }, RECONNECT_GRACE_MS);
        return;
      }
      this.clearGrace();
      this.setConnection("reconnecting");
      this.failures++;
      if (this.poll && this.failures >= FAILURES_BEFORE_FALLBACK) {
        this.startPolling();
        return;
      }
      this.armFallback();
      // It gave up (an error answer, e.g. 429 or 503): try again a little later.
      if (source.readyState === CLOSED) {
        this.retryTimer = setTimeout(() => this.connect(), RETRY_AFTER_FAILURE_MS);
      }
    };
  }

  /** Poll unless a snapshot comes from the stream within FALLBACK_AFTER_MS (once armed, a
   * reconnect does not push the deadline back). */
  private armFallback(): void {
    if (!this.poll || this.polling) return;
    this.fallbackTimer ??= setTimeout(() => {
      this.fallbackTimer = null;
      this.startPolling();
    }, FALLBACK_AFTER_MS);
  }

  private startPolling(): void {
    if (!this.poll || this.polling) return;
    this.polling = true;
    this.clearFallback();
    this.closeSource();
    this.setConnection("polling");
    void this.pollOnce(this.pollEpoch);
    this.streamRetryTimer = setTimeout(() => this.retryStream(), STREAM_RETRY_MS);
  }

  private retryStream(): void {
    this.streamRetryTimer = null;
    if (!this.polling) return;
    this.connect();
    this.streamRetryTimer = setTimeout(() => this.retryStream(), STREAM_RETRY_MS);
  }

  private async pollOnce(epoch: number): Promise<void> {
    if (!this.poll) return;
    let delay = POLL_INTERVAL_MS;
    this.polls++;
    try {
      const snapshot = await this.poll();
      if (epoch !== this.pollEpoch) return;
      this.offer(snapshot);
    } catch (e) {
      if (epoch !== this.pollEpoch) return;
      // Not answered: try again at the next interval, or when the service says (429, 503).
      const retryAfter = (e as { retryAfter?: unknown } | null)?.retryAfter;
      if (typeof retryAfter === "number") delay = Math.max(delay, retryAfter * 1000);
    }
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      void this.pollOnce(epoch);
    }, delay);
  }

  private stopPolling(): void {
    if (!this.polling) return;
    this.polling = false;
    this.pollEpoch++;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.streamRetryTimer) clearTimeout(this.streamRetryTimer);
    this.pollTimer = null;
    this.streamRetryTimer = null;
  }

  private clearGrace(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = null;
  }

  private clearFallback(): void {
    if (this.fallbackTimer) clearTimeout(this.fallbackTimer);
    this.fallbackTimer = null;
  }

  private closeSource(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.clearGrace();
    this.source?.close();
    this.source = null;
  }

  close(): void {
    this.stopPolling();
    this.clearFallback();
    this.closeSource();
    this.setConnection("closed");
  }
}
