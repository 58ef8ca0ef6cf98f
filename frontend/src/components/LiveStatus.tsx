import type { Connection } from "../seatmap/live";

/** What a seat map's connection is called, in a few words. */
export function connectionLabel(connection: Connection | string): string {
  switch (connection) {
    case "live":
      return "Live";
    case "connecting":
      return "Connecting…";
    case "polling":
      return "Refreshing";
    case "closed":
      return "Stopped";
    default:
      return "Reconnecting…";
  }
}

/** Under a seat map that polls because its live stream can't get through (live.ts). */
export function PollingNote() {
  return (
    <p className="text-xs text-slate-600" role="status" data-testid="polling-note">
      Live updates paused; refreshing every few seconds.
    </p>
  );
}
