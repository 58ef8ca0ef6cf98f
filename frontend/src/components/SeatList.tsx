import { useMemo } from "react";
import { rowSeatIds } from "../api/layout";
import { parseSeatId, sectionWords } from "../api/seatNames";
import type { Concert } from "../api/types";
import { money } from "../lib/format";

interface SeatDetail {
  section: string;
  row: string;
  number: number;
  priceCents: number;
}

/** Where each seat is and what it costs, from the concert's layout. */
function seatDetails(concert: Concert | undefined) {
  const map = new Map<string, SeatDetail>();
  for (const s of concert?.sections ?? []) {
    for (const r of s.rows) {
      rowSeatIds(s.id, r).forEach((id, n) => {
        map.set(id, { section: s.name, row: r.label, number: n + 1, priceCents: s.price_cents });
      });
    }
  }
  return map;
}

/** Where a seat is while the layout loads (or when it changed): read from its id. */
function fromId(id: string): string {
  const p = parseSeatId(id);
  return p ? `${sectionWords(p.sectionId)} · Row ${p.row} · Seat ${p.number}` : id;
}

/** One seat of a hold or order: where it is and its price (once the layout is loaded). */
function SeatLine({
  id,
  seat: d,
  currency,
  className,
}: {
  id: string;
  seat: SeatDetail | undefined;
  currency: string;
  className: string;
}) {
  return (
    <li className={className}>
      <span>{d ? `${d.section} · Row ${d.row} · Seat ${d.number}` : fromId(id)}</span>
      {d && <span>{money(d.priceCents, currency)}</span>}
    </li>
  );
}

/** How the list looks at checkout (a hold) and on an order's page. */
const LOOKS = {
  hold: {
    list: "divide-y divide-slate-100 rounded-lg border border-slate-200",
    item: "flex justify-between px-3 py-2 text-sm",
    total: "flex justify-between text-lg font-semibold",
    listTestId: "held-seats",
    totalTestId: "total",
  },
  order: {
    list: "divide-y divide-slate-100 text-sm",
    item: "flex justify-between py-1.5",
    total: "flex justify-between border-t border-slate-200 pt-2 font-semibold",
    listTestId: undefined,
    totalTestId: undefined,
  },
};

/** The seats of a hold or an order, a line each, and what they cost together. */
export function SeatList({
  concert,
  of: { seat_ids: seatIds, currency, amount_cents: amountCents },
  look,
}: {
  concert: Concert | undefined;
  /** The hold or the order. */
  of: { seat_ids: string[]; currency: string; amount_cents: number };
  look: keyof typeof LOOKS;
}) {
  const seats = useMemo(() => seatDetails(concert), [concert]);
  const css = LOOKS[look];
  return (
    <>
      <ul className={css.list} data-testid={css.listTestId}>
        {seatIds.map((id) => (
          <SeatLine
            key={id}
            id={id}
            seat={seats.get(id)}
            currency={currency}
            className={css.item}
          />
        ))}
      </ul>
      <p className={css.total}>
        <span>Total</span>
        <span data-testid={css.totalTestId}>{money(amountCents, currency)}</span>
      </p>
    </>
  );
}
