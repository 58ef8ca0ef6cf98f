import { type QueryClient, useQueryClient } from "@tanstack/react-query";
import { useEffect, useMemo, useState } from "react";
import type { Concert, SeatCounts, SeatMapSnapshot } from "../api/types";
import { api } from "../lib/api";
import { type Connection, LiveSeats, type SeatUpdate } from "./live";
import { SeatMapModel } from "./model";

export interface LiveSeatMap {
  model: SeatMapModel;
  live: LiveSeats;
  counts: SeatCounts;
  connection: Connection;
  /** True once the first snapshot arrived. */
  ready: boolean;
  /** Bumped (at most once per frame) whenever statuses change. */
  version: number;
}

/** The seat map (GET /concerts/{id}/seats, compressed), asked for as soon as a concert page
 * opens, together with the concert: the map is drawn from it without waiting for the stream,
 * whose own first snapshot comes later (and uncompressed). */
export function prefetchSeatMap(client: QueryClient, concertId: string): Promise<SeatMapSnapshot> {
  return client.fetchQuery({
    queryKey: ["seat-map", concertId],
    queryFn: () => api.seatMap(concertId),
    staleTime: 5_000,
  });
}

/** A concert's seat map with live availability from the SSE stream, or from polling the seat
 * map when the stream can't get through (`connection` is then "polling"). */
export function useLiveSeats(concert: Pick<Concert, "id" | "sections">): LiveSeatMap {
  const { id, sections } = concert;
  const queryClient = useQueryClient();
  // Keyed on the layout only: a refetched concert (new seats_available) keeps its map, its
  // stream and the buyer's selection. TanStack Query keeps `sections` the same object while
  // it is unchanged.
  const model = useMemo(() => new SeatMapModel({ sections }), [sections]);
  // Without a stream (a proxy blocks it) the map polls the seat map instead (live.ts).
  const live = useMemo(
    () => new LiveSeats(model, api.seatStreamUrl(id), undefined, () => api.seatMap(id)),
    [model, id],
  );
  const [connection, setConnection] = useState<Connection>("connecting");
  const [tick, setTick] = useState({
    version: 0,
    ready: false,
    counts: model.counts() as SeatCounts,
  });

  useEffect(() => {
    let frame = 0;
    const offUpdate = live.subscribe((_u: SeatUpdate) => {
      // Many changes in a burst: one React update per animation frame is plenty for counts.
      if (frame) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        const c = model.counts();
        setTick((t) => ({
          version: t.version + 1,
          ready: live.snapshots > 0,
          counts: { available: c.available, held: c.held, sold: c.sold },
        }));
      });
    });
    const offConnection = live.onConnection(setConnection);
    live.open();
    let closed = false;
    prefetchSeatMap(queryClient, id).then(
      (snapshot) => {
        if (!closed) live.offer(snapshot);
      },
      () => {}, // the stream (or its polling fallback) brings the map anyway
    );
    return () => {
      closed = true;
      offUpdate();
      offConnection();
      if (frame) cancelAnimationFrame(frame);
      live.close();
    };
  }, [live, model, queryClient, id]);

  return { model, live, connection, ready: tick.ready, counts: tick.counts, version: tick.version };
}
