import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import { fieldErrors } from "../../api/errors";
import type { Concert, QueueStats as QueueStatsType } from "../../api/types";
import { connectionLabel, PollingNote } from "../../components/LiveStatus";
import {
  BackLink,
  ConcertBadge,
  ErrorBox,
  Loaded,
  MutationButton,
  Notice,
} from "../../components/ui";
import { useDraft } from "../../components/useDraft";
import { usePageTitle } from "../../components/usePageTitle";
import { api } from "../../lib/api";
import { saveFile } from "../../lib/download";
import { dateTime, money } from "../../lib/format";
import { tierColor } from "../../seatmap/render";
import { Legend, SeatMap } from "../../seatmap/SeatMap";
import { useLiveSeats } from "../../seatmap/useLiveSeats";
import { adminPage } from "./AdminOnly";
import { ConcertChanges } from "./ConcertChanges";
import { LotteryFields, lotteryDraft, lotteryProblem, lotterySettings } from "./LotteryFields";
import { LotteryResult } from "./LotteryResult";
import { QueueFields, QueueToggle, queueDraft, queueSettings } from "./queueForm";

const NO_SEATS: ReadonlySet<number> = new Set();

export default adminPage(Live, "On-sale");

function Live() {
  const { concertId = "" } = useParams();
  const concert = useQuery({
    queryKey: ["concert", concertId],
    queryFn: () => api.getConcert(concertId),
  });
  usePageTitle(concert.data ? `${concert.data.title} · On-sale` : "On-sale");
  return (
    <Loaded query={concert} label="Loading the concert">
      {(c) => <LiveView concert={c} />}
    </Loaded>
  );
}

function LiveView({ concert }: { concert: Concert }) {
  const { model, live, counts, connection, version } = useLiveSeats(concert);
  const total = model.count;
  const pct = (n: number) => (total ? Math.round((n / total) * 1000) / 10 : 0);
  return (
    <div className="space-y-6">
      <BackLink to="/organiser" />
      <div className="flex flex-wrap items-end justify-between gap-3">
        <div>
          <div className="flex items-center gap-2">
            <ConcertBadge status={concert.status} />
            <span
              className="text-xs text-slate-500"
              data-testid="live-status"
              data-connection={connection}
            >
              {connection === "live" ? "● live" : connectionLabel(connection)}
            </span>
          </div>
          <h1 className="mt-1 text-2xl font-bold">{concert.title}</h1>
          <p className="text-slate-600">
            {concert.artist} · {concert.venue.name}, {concert.venue.city} · on sale{" "}
            {dateTime(concert.on_sale_at, concert.venue.time_zone)} · starts{" "}
            {dateTime(concert.starts_at, concert.venue.time_zone)}
          </p>
        </div>
        <div className="flex flex-wrap items-start gap-2">
          <Link to={`/organiser/concerts/${concert.id}/door`} className="btn-secondary">
            Door (scan tickets)
          </Link>
          <WarmButton concertId={concert.id} />
        </div>
      </div>

      <ConcertChanges concert={concert} />

      <section className="grid gap-4 sm:grid-cols-4" aria-label="Seats" data-version={version}>
        <Stat
          label="Sold"
          value={counts.sold}
          note={`${pct(counts.sold)}% of ${total.toLocaleString()}`}
          testid="stat-sold"
        />
        <Stat
          label="Held right now"
          value={counts.held}
          note={`${pct(counts.held)}%`}
          testid="stat-held"
        />
        <Stat
          label="Available"
          value={counts.available}
          note={`${pct(counts.available)}%`}
          testid="stat-available"
        />
        <Stat
          label="Revenue (sold)"
          value={null}
          display={money(
            model.sections.reduce(
              (sum, s) => sum + model.sectionCounts(s.index).sold * s.priceCents,
              0,
            ),
            concert.currency,
          )}
          note="from the live map"
        />
      </section>

      <QueueStatsPanel concert={concert} />
      {concert.queue.mode === "lottery" && <LotteryResult concert={concert} />}

      <section className="card space-y-3" aria-labelledby="sections-h">
        <h2 id="sections-h" className="font-semibold">
          By section
        </h2>
        <div className="overflow-x-auto">
          <table className="w-full min-w-[520px] text-sm">
            <thead className="text-left text-xs uppercase text-slate-500">
              <tr>
                <th className="py-1">Section</th>
                <th className="py-1">Price</th>
                <th className="py-1 text-right">Sold</th>
                <th className="py-1 text-right">Held</th>
                <th className="py-1 text-right">Available</th>
                <th className="w-1/3 py-1 pl-4">Progress</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {model.sections.map((s) => {
                const c = model.sectionCounts(s.index);
                const soldPct = s.seatCount ? (c.sold / s.seatCount) * 100 : 0;
                const heldPct = s.seatCount ? (c.held / s.seatCount) * 100 : 0;
                return (
                  <tr key={s.id}>
                    <td className="py-2 font-medium">
                      <span
                        className="mr-2 inline-block h-3 w-3 rounded-sm align-middle"
                        style={{ backgroundColor: tierColor(s.index) }}
                      />
                      {s.name}
                    </td>
                    <td className="py-2">{money(s.priceCents, concert.currency)}</td>
                    <td className="py-2 text-right tabular-nums">{c.sold.toLocaleString()}</td>
                    <td className="py-2 text-right tabular-nums">{c.held.toLocaleString()}</td>
                    <td className="py-2 text-right tabular-nums">{c.available.toLocaleString()}</td>
                    <td className="py-2 pl-4">
                      <div className="flex h-2 overflow-hidden rounded-full bg-slate-100">
                        <div className="bg-slate-500" style={{ width: `${soldPct}%` }} />
                        <div className="bg-amber-300" style={{ width: `${heldPct}%` }} />
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </section>

      <section className="card space-y-3" aria-labelledby="map-h">
        <h2 id="map-h" className="font-semibold">
          Seat map
        </h2>
        <Legend model={model} currency={concert.currency} counts={counts} />
        {connection === "polling" && <PollingNote />}
        <SeatMap
          model={model}
          live={live}
          selected={NO_SEATS}
          currency={concert.currency}
          label={`Live seat map of ${concert.title}`}
        />
      </section>

      <QueueSettings concert={concert} />
    </div>
  );
}

function Stat({
  label,
  value,
  display,
  note,
  testid,
}: {
  label: string;
  value: number | null;
  display?: string;
  note?: string;
  testid?: string;
}) {
  return (
    <div className="card">
      <p className="text-sm text-slate-500">{label}</p>
      <p className="text-2xl font-bold tabular-nums" data-testid={testid}>
        {display ?? value?.toLocaleString()}
      </p>
      {note && <p className="text-xs text-slate-500">{note}</p>}
    </div>
  );
}

function WarmButton({ concertId }: { concertId: string }) {
  const warm = useMutation({ mutationFn: () => api.warmConcert(concertId) });
  const report = useMutation({
    mutationFn: async () => saveFile(await api.salesReport(concertId), `sales-${concertId}.csv`),
  });
  return (
    <div className="flex flex-col items-start gap-1 sm:items-end">
      <div className="flex gap-2">
        <Link className="btn-secondary" to={`/concerts/${concertId}`}>
          Buyer's view
        </Link>
        <MutationButton
          mutation={warm}
          className="btn-primary"
          busyLabel="Warming up…"
          title="Load the layout and seat state into Redis ahead of the on-sale"
        >
          Warm up
        </MutationButton>
        <MutationButton
          mutation={report}
          className="btn-secondary"
          busyLabel="Preparing…"
          title="One row per ticket: buyer, seat, price, valid, checked in or refunded"
        >
          Sales (CSV)
        </MutationButton>
      </div>
      {report.isError && <ErrorBox error={report.error} className="max-w-xs" />}
      {warm.isSuccess && (
        <span className="text-xs text-emerald-700" role="status">
          Warmed {warm.data.seats.toLocaleString()} seats at{" "}
          {new Date(warm.data.warmed_at).toLocaleTimeString()}
        </span>
      )}
      {warm.isError && <ErrorBox error={warm.error} className="max-w-xs" />}
    </div>
  );
}

function QueueStatsPanel({ concert }: { concert: Concert }) {
  const stats = useQuery({
    queryKey: ["queue-stats", concert.id],
    queryFn: () => api.queueStats(concert.id),
    enabled: concert.queue.enabled,
    refetchInterval: 2000,
    refetchIntervalInBackground: false,
  });
  if (!concert.queue.enabled) {
    return (
      <Notice tone="info" title="No waiting room">
        Buyers go straight to seat selection. Turn the waiting room on below for a busy on-sale.
      </Notice>
    );
  }
  return (
    <Loaded query={stats} label="Loading the queue">
      {(s) => <QueueStats stats={s} />}
    </Loaded>
  );
}

function QueueStats({ stats: s }: { stats: QueueStatsType }) {
  return (
    <section className="grid gap-4 sm:grid-cols-4" aria-label="Waiting room">
      <Stat label="Waiting in line" value={s.waiting} note="queue depth" testid="stat-waiting" />
      <Stat
        label="Shopping now"
        value={s.active_shoppers}
        note={`at most ${s.max_active.toLocaleString()}`}
        testid="stat-shopping"
      />
      <Stat label="Admitted so far" value={s.admitted_total} testid="stat-admitted" />
      <Stat
        label="Admission rate"
        value={null}
        display={`${s.admitted_per_minute.toLocaleString()}/min`}
        note={`configured ${s.admit_per_minute.toLocaleString()}/min`}
      />
    </section>
  );
}

function QueueSettings({ concert }: { concert: Concert }) {
  const queryClient = useQueryClient();
  const zone = concert.venue.time_zone;
  const { draft, patch } = useDraft(() => queueDraft(concert.queue, zone));
  const lottery = useDraft(() => lotteryDraft(concert.queue, zone));
  const lotteryError = lotteryProblem(lottery.draft, concert.on_sale_at, draft.enabled, zone);
  const save = useMutation({
    mutationFn: () =>
      api.patchConcert(concert.id, {
        queue: { ...queueSettings(draft, zone), ...lotterySettings(lottery.draft, zone) },
      }),
    onSuccess: (c) => queryClient.setQueryData(["concert", c.id], c),
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (!lotteryError) save.mutate();
  };
  return (
    <form className="card space-y-4" onSubmit={submit} aria-labelledby="queue-h">
      <h2 id="queue-h" className="font-semibold">
        Waiting room settings
      </h2>
      <QueueToggle draft={draft} onChange={patch}>
        Waiting room on (holds and checkout need an admission pass)
      </QueueToggle>
      <QueueFields draft={draft} onChange={patch} fields={fieldErrors(save.error)} />
      <LotteryFields
        draft={lottery.draft}
        onChange={lottery.patch}
        onSale={concert.on_sale_at}
        queueOn={draft.enabled}
        timeZone={zone}
      />
      {save.isError && <ErrorBox error={save.error} />}
      {save.isSuccess && <Notice tone="success">Saved.</Notice>}
      <button type="submit" className="btn-primary" disabled={save.isPending || !!lotteryError}>
        {save.isPending ? "Saving…" : "Save waiting room settings"}
      </button>
    </form>
  );
}
