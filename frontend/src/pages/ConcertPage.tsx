import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { isApiError, newIdempotencyKey } from "../api/client";
import { describeError } from "../api/errors";
import { seatNamer } from "../api/seatNames";
import type { Concert, HoldRequest } from "../api/types";
import { useAuth } from "../auth/AuthProvider";
import { connectionLabel, PollingNote } from "../components/LiveStatus";
import {
  BackLink,
  ConcertBadge,
  ErrorBox,
  GenreLabel,
  Notice,
  PageLoading,
} from "../components/ui";
import { useSecondsLeft } from "../components/useNow";
import { usePageTitle } from "../components/usePageTitle";
import { api } from "../lib/api";
import { clock, dateTime, money, priceRange } from "../lib/format";
import { usePickedSeats } from "../lib/pickedSeats";
import { dropPass, loadPass } from "../lib/queuePass";
import { AVAILABLE } from "../seatmap/model";
import { Legend, SeatMap, useCoarsePointer } from "../seatmap/SeatMap";
import { prefetchSeatMap, useLiveSeats } from "../seatmap/useLiveSeats";
import { LotteryPanel } from "./LotteryPanel";

export function ConcertPage() {
  const { concertId = "" } = useParams();
  const concert = useQuery({
    queryKey: ["concert", concertId],
    queryFn: () => api.getConcert(concertId),
  });
  // The seat states travel beside the layout, not after it (useLiveSeats picks them up).
  const queryClient = useQueryClient();
  useEffect(() => {
    prefetchSeatMap(queryClient, concertId).catch(() => {});
  }, [queryClient, concertId]);
  usePageTitle(concert.data?.title ?? (concert.isError ? "Concert not found" : "Concert"));
  if (concert.isPending) return <PageLoading label="Loading the concert" />;
  if (concert.isError) {
    return (
      <div className="space-y-4">
        <ErrorBox error={concert.error} onRetry={() => concert.refetch()} />
        <Link to="/" className="btn-secondary">
          ← All concerts
        </Link>
      </div>
    );
  }
  return <ConcertView concert={concert.data} />;
}

function ConcertView({ concert }: { concert: Concert }) {
  const onSaleIn = useSecondsLeft(concert.on_sale_at) ?? 0;
  const notYet = concert.status === "scheduled" && onSaleIn > 0;
  return (
    <div className="space-y-6">
      <BackLink to="/" />
      <header className="flex flex-col gap-2 sm:flex-row sm:items-end sm:justify-between">
        <div>
          <div className="flex items-center gap-2">
            <GenreLabel genre={concert.genre} />
            <ConcertBadge status={concert.status} />
          </div>
          <h1 className="mt-1 text-2xl font-bold sm:text-3xl">{concert.title}</h1>
          <p className="text-lg text-slate-700">{concert.artist}</p>
          <p className="mt-1 text-sm text-slate-600">
            {concert.venue.name}, {concert.venue.city} ·{" "}
            <span data-testid="concert-time">
              {dateTime(concert.starts_at, concert.venue.time_zone)}
            </span>
          </p>
        </div>
        <div className="text-sm text-slate-600 sm:text-right">
          <p className="font-semibold text-slate-900">
            {priceRange(
              concert.price_range.min_cents,
              concert.price_range.max_cents,
              concert.currency,
            )}
          </p>
          <p>Up to {concert.max_tickets_per_user} tickets per buyer</p>
        </div>
      </header>
      {concert.description && <p className="max-w-3xl text-slate-700">{concert.description}</p>}
      {notYet && (
        <Notice
          tone="info"
          title={`On sale ${dateTime(concert.on_sale_at, concert.venue.time_zone)}`}
        >
          Seats can be held in <b className="font-mono">{clock(onSaleIn)}</b>. The map below is live
          already.
        </Notice>
      )}
      {concert.status === "cancelled" ? (
        <Notice tone="warning" title="This concert is cancelled">
          Tickets are no longer sold. Every ticket bought is refunded to the card that paid for it,
          and buyers get an email.
        </Notice>
      ) : concert.status === "ended" ? (
        <Notice tone="info" title="This concert has ended">
          Tickets are no longer sold.
        </Notice>
      ) : (
        <SeatSelection concert={concert} saleOpen={!notYet} />
      )}
    </div>
  );
}

function SeatSelection({ concert, saleOpen }: { concert: Concert; saleOpen: boolean }) {
  const { user } = useAuth();
  const navigate = useNavigate();
  const location = useLocation();
  const { model, live, counts, connection, ready, version } = useLiveSeats(concert);
  const touch = useCoarsePointer();
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());
  const [notice, setNotice] = useState<string | null>(null);
  const [quantity, setQuantity] = useState(2);
  const [sectionId, setSectionId] = useState("");
  const pass = concert.queue.enabled ? loadPass(concert.id) : null;
  const needsQueue = concert.queue.enabled && !pass;
  const max = concert.max_tickets_per_user;
  const idempotencyKey = useRef(newIdempotencyKey());
  // Picks made before logging in survive the login (lib/pickedSeats.ts).
  usePickedSeats({
    concertId: concert.id,
    model,
    ready,
    loggedIn: Boolean(user),
    selected,
    setSelected,
    max,
    onLost: setNotice,
  });

  // A picked seat someone else just took: drop it and say so.
  useEffect(() => {
    return live.subscribe((update) => {
      setSelected((current) => {
        if (current.size === 0) return current;
        const lost = [...current].filter(
          (i) => (update === "all" || update.includes(i)) && model.status[i] !== AVAILABLE,
        );
        if (lost.length === 0) return current;
        setNotice(
          `${lost.map((i) => model.label(i)).join("; ")} ${lost.length === 1 ? "was" : "were"} just taken by someone else.`,
        );
        const next = new Set(current);
        for (const i of lost) next.delete(i);
        return next;
      });
    });
  }, [live, model]);

  const toggle = useCallback(
    (i: number) => {
      setNotice(null);
      setSelected((current) => {
        const next = new Set(current);
        if (next.has(i)) next.delete(i);
        else if (next.size >= max) {
          setNotice(`You can pick up to ${max} seats for this concert.`);
          return current;
        } else next.add(i);
        return next;
      });
    },
    [max],
  );

  const hold = useMutation({
    mutationFn: (body: HoldRequest) =>
      api.createHold(concert.id, body, {
        idempotencyKey: idempotencyKey.current,
        queuePass: pass?.pass ?? null,
      }),
    onSuccess: (h) => {
      idempotencyKey.current = newIdempotencyKey();
      // Hold ids contain a dot: a query parameter, not a path segment (which would look like a file).
      navigate(
        `/checkout?hold=${encodeURIComponent(h.id)}&concert=${encodeURIComponent(concert.id)}`,
      );
    },
    onError: (e) => {
      idempotencyKey.current = newIdempotencyKey();
      if (isApiError(e) && e.code === "SeatsUnavailable") {
        setSelected((current) => {
          const next = new Set(current);
          for (const id of e.unavailable) next.delete(model.indexOf(id));
          return next;
        });
      }
      if (isApiError(e) && e.code === "QueuePassRequired") dropPass(concert.id);
    },
  });

  const selectedList = useMemo(() => [...selected].sort((a, b) => a - b), [selected]);
  const total = selectedList.reduce((sum, i) => sum + model.describe(i).priceCents, 0);
  const loginPath = `/login?next=${encodeURIComponent(location.pathname)}`;
  const canHold = saleOpen && !needsQueue && ready;

  const holdSelected = () => {
    if (!user) return navigate(loginPath);
    hold.mutate({ seat_ids: selectedList.map((i) => model.idOf(i)) });
  };
  const holdBest = () => {
    if (!user) return navigate(loginPath);
    hold.mutate(sectionId ? { quantity, section_id: sectionId } : { quantity });
  };

  const holdLabel = hold.isPending
    ? "Holding…"
    : user
      ? `Hold ${selectedList.length || ""} seat${selectedList.length === 1 ? "" : "s"}`.replace(
          "  ",
          " ",
        )
      : "Log in to hold seats";

  return (
    <>
      <div className="grid gap-6 lg:grid-cols-[1fr_320px]">
        <section className="card min-w-0 space-y-4" aria-labelledby="seats-title">
          <div className="flex flex-wrap items-center justify-between gap-2">
            <h2 id="seats-title" className="text-lg font-semibold">
              Pick your seats
            </h2>
            <LiveBadge connection={connection} />
          </div>
          <Legend
            model={model}
            currency={concert.currency}
            counts={counts}
            selectedCount={selected.size}
          />
          {connection === "polling" && <PollingNote />}
          {!ready && <p className="text-sm text-slate-500">Loading live availability…</p>}
          <SeatMap
            key={concert.id}
            model={model}
            live={live}
            selected={selected}
            onToggle={canHold ? toggle : undefined}
            currency={concert.currency}
            label={`Seat map of ${concert.venue.name}: ${model.count.toLocaleString()} seats`}
          />
          <span className="sr-only" data-testid="seat-version">
            {version}
          </span>
        </section>

        <aside className="space-y-4 lg:sticky lg:top-20 lg:self-start" aria-label="Your selection">
          {concert.queue.mode === "lottery" && <LotteryPanel concert={concert} />}
          {needsQueue && (
            <div className="card space-y-2 border-brand-500">
              <h2 className="font-semibold">This on-sale has a waiting room</h2>
              <p className="text-sm text-slate-600">
                To keep things fair, buyers are let in at a steady pace. Join the line and you'll
                come back here to pick seats as soon as it's your turn.
              </p>
              <Link className="btn-primary w-full" to={`/concerts/${concert.id}/queue`}>
                Join the waiting room
              </Link>
            </div>
          )}
          {pass && <PassBadge expiresAt={pass.expiresAt} />}
          {notice && (
            <Notice tone="warning" className="text-sm">
              {notice}
            </Notice>
          )}
          {hold.isError && <HoldError error={hold.error} concertId={concert.id} />}

          <div className="card space-y-3">
            <h2 className="font-semibold">Your seats</h2>
            {selectedList.length === 0 ? (
              <p className="text-sm text-slate-500">
                No seats picked yet. {touch ? "Tap" : "Click"} seats on the map or let us find the
                best ones.
              </p>
            ) : (
              <ul className="divide-y divide-slate-100 text-sm" data-testid="selected-seats">
                {selectedList.map((i) => {
                  const d = model.describe(i);
                  return (
                    <li key={i} className="flex items-center justify-between gap-2 py-1.5">
                      <span>
                        {d.section} · Row {d.row} · Seat {d.number}
                      </span>
                      <span className="flex items-center gap-2">
                        {money(d.priceCents, concert.currency)}
                        <button
                          type="button"
                          className="rounded px-1 text-slate-400 hover:text-rose-600"
                          aria-label={`Remove ${model.label(i)}`}
                          onClick={() => toggle(i)}
                        >
                          ×
                        </button>
                      </span>
                    </li>
                  );
                })}
              </ul>
            )}
            {selectedList.length > 0 && (
              <p className="flex justify-between border-t border-slate-200 pt-2 font-semibold">
                <span>Total</span>
                <span>{money(total, concert.currency)}</span>
              </p>
            )}
            <button
              type="button"
              className="btn-primary w-full"
              disabled={!canHold || selectedList.length === 0 || hold.isPending}
              onClick={holdSelected}
            >
              {holdLabel}
            </button>
            <p className="text-xs text-slate-500">
              Held seats are yours for 5 minutes while you pay.
            </p>
          </div>

          <div className="card space-y-3">
            <h2 className="font-semibold">Best available</h2>
            <div className="grid grid-cols-2 gap-2">
              <div>
                <label className="label" htmlFor="best-qty">
                  Seats
                </label>
                <select
                  id="best-qty"
                  className="input"
                  value={quantity}
                  onChange={(e) => setQuantity(Number(e.target.value))}
                >
                  {Array.from({ length: max }, (_, k) => k + 1).map((n) => (
                    <option key={n} value={n}>
                      {n}
                    </option>
                  ))}
                </select>
              </div>
              <div>
                <label className="label" htmlFor="best-section">
                  Section
                </label>
                <select
                  id="best-section"
                  className="input"
                  value={sectionId}
                  onChange={(e) => setSectionId(e.target.value)}
                >
                  <option value="">Any</option>
                  {concert.sections.map((s) => (
                    <option key={s.id} value={s.id}>
                      {s.name} ({money(s.price_cents, concert.currency)})
                    </option>
                  ))}
                </select>
              </div>
            </div>
            <button
              type="button"
              className="btn-secondary w-full"
              disabled={!canHold || hold.isPending}
              onClick={holdBest}
            >
              {user ? `Find and hold the best ${quantity}` : "Log in to hold seats"}
            </button>
            <p className="text-xs text-slate-500">Adjacent seats in one row when possible.</p>
          </div>
        </aside>
      </div>
      {/* Phones and tablets: the selection, its total and Hold stay at the bottom of the screen. */}
      <div
        className="sticky bottom-2 z-20 rounded-xl border border-slate-200 bg-white/95 p-3 shadow-[0_-2px_16px_rgba(15,23,42,0.12)] backdrop-blur lg:hidden"
        data-testid="selection-bar"
      >
        <div className="flex items-center justify-between gap-3">
          <div className="min-w-0 text-sm" aria-live="polite">
            {selectedList.length === 0 ? (
              <p className="text-slate-500">No seats picked yet</p>
            ) : (
              <>
                <p className="font-semibold" data-testid="bar-total">
                  {selectedList.length} seat{selectedList.length === 1 ? "" : "s"} ·{" "}
                  {money(total, concert.currency)}
                </p>
                <p className="truncate text-slate-600" data-testid="bar-seats">
                  {selectedList
                    .map((i) => {
                      const d = model.describe(i);
                      return `${d.section} ${d.row}${d.number}`;
                    })
                    .join(", ")}
                </p>
              </>
            )}
          </div>
          <button
            type="button"
            className="btn-primary min-h-11 shrink-0"
            data-testid="bar-hold"
            disabled={!canHold || selectedList.length === 0 || hold.isPending}
            onClick={holdSelected}
          >
            {holdLabel}
          </button>
        </div>
      </div>
    </>
  );
}

function LiveBadge({ connection }: { connection: string }) {
  const live = connection === "live";
  return (
    <span
      className={`inline-flex items-center gap-1.5 rounded-full px-2.5 py-0.5 text-xs font-semibold ${live ? "bg-emerald-100 text-emerald-800" : "bg-amber-100 text-amber-800"}`}
      data-testid="live-status"
      data-connection={connection}
    >
      <span
        aria-hidden="true"
        className={`h-2 w-2 rounded-full ${live ? "animate-pulse bg-emerald-500" : "bg-amber-500"}`}
      />
      {connectionLabel(connection)}
    </span>
  );
}

function PassBadge({ expiresAt }: { expiresAt: string | null }) {
  const left = useSecondsLeft(expiresAt);
  return (
    <Notice tone="success" title="You're in">
      Your waiting-room pass is active
      {left !== null && (
        <>
          {" "}
          for another <b className="font-mono">{clock(left)}</b>
        </>
      )}
      .
    </Notice>
  );
}

function HoldError({ error, concertId }: { error: unknown; concertId: string }) {
  // Seats it names by their names in this concert's layout (the page's query has it).
  const concert = useQueryClient().getQueryData<Concert>(["concert", concertId]);
  const e = describeError(error);
  if (isApiError(error) && error.code === "QueuePassRequired") {
    return (
      <Notice tone="warning" title={e.title}>
        {e.message}{" "}
        <Link className="font-semibold underline" to={`/concerts/${concertId}/queue`}>
          Go to the waiting room
        </Link>
      </Notice>
    );
  }
  return <ErrorBox error={error} seatName={seatNamer(concert)} />;
}
