// The seats a buyer picked on a concert page before logging in. They are kept in this tab
// (sessionStorage, one entry per concert) through the login round trip and picked again once
// the live seat map tells which of them are still free; the others are named and dropped.

import { type Dispatch, type SetStateAction, useEffect, useRef } from "react";

const key = (concertId: string) => `encore.picked.${concertId}`;

/** The part of the seat map's model this needs. */
export interface PickModel {
  idOf(i: number): string;
  indexOf(seatId: string): number;
  isAvailable(i: number): boolean;
  label(i: number): string;
}

function storage(): Storage | null {
  try {
    return typeof sessionStorage === "undefined" ? null : sessionStorage;
  } catch {
    return null; // storage refused (some private modes)
  }
}

export function savePicked(concertId: string, seatIds: readonly string[], store = storage()) {
  try {
    if (seatIds.length) store?.setItem(key(concertId), JSON.stringify(seatIds));
    else store?.removeItem(key(concertId));
  } catch {
    // Full or refused: the picks last as long as the page.
  }
}

/** The saved picks of a concert, forgotten as they are read. */
export function takePicked(concertId: string, store = storage()): string[] {
  try {
    const raw = store?.getItem(key(concertId));
    store?.removeItem(key(concertId));
    const ids: unknown = raw ? JSON.parse(raw) : [];
    return Array.isArray(ids) ? ids.filter((id): id is string => typeof id === "string") : [];
  } catch {
    return [];
  }
}

/** Which saved seats are picked again (still available, within `max`, in the layout), and the
 * names of those that are gone. */
export function restorable(
  model: PickModel,
  seatIds: readonly string[],
  max: number,
): { keep: number[]; lost: string[] } {
  const keep: number[] = [];
  const lost: string[] = [];
  for (const id of new Set(seatIds)) {
    const i = model.indexOf(id);
    if (i < 0) continue; // not in this layout (it changed): nothing to say about it
    if (model.isAvailable(i) && keep.length < max) keep.push(i);
    else lost.push(model.label(i));
  }
  return { keep, lost };
}

/** Keeps the picks of a buyer who is not logged in, and restores them once, after the login
 * brought them back to the page and the live availability is known. */
export function usePickedSeats({
  concertId,
  model,
  ready,
  loggedIn,
  selected,
  setSelected,
  max,
  onLost,
}: {
  concertId: string;
  model: PickModel;
  ready: boolean;
  loggedIn: boolean;
  selected: ReadonlySet<number>;
  setSelected: Dispatch<SetStateAction<ReadonlySet<number>>>;
  max: number;
  onLost: (message: string) => void;
}) {
  const restored = useRef(false);
  // biome-ignore lint/correctness/useExhaustiveDependencies: once, when availability is known
  useEffect(() => {
    if (!ready || restored.current) return;
    restored.current = true;
    const saved = takePicked(concertId);
    if (!saved.length) return;
    const { keep, lost } = restorable(model, saved, max);
    if (keep.length) setSelected(new Set(keep));
    if (lost.length) {
      onLost(
        `${lost.join("; ")} ${lost.length === 1 ? "is" : "are"} no longer available, so ${lost.length === 1 ? "it was" : "they were"} taken out of your picks.`,
      );
    }
  }, [ready]);
  useEffect(() => {
    if (loggedIn || !restored.current) return;
    savePicked(
      concertId,
      [...selected].map((i) => model.idOf(i)),
    );
  }, [concertId, loggedIn, model, selected]);
}
