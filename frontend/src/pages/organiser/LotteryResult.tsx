// The presale lottery on the organiser's live page: registrations while they come in, then the
// draw's result (when, entries, winners, the waitlist) and its commitment (seed hash, seed).

import { useQuery } from "@tanstack/react-query";
import type { Concert, Lottery } from "../../api/types";
import { ErrorBox } from "../../components/ui";
import { api } from "../../lib/api";
import { dateTime } from "../../lib/format";

const STATE_WORDS: Record<Lottery["state"], string> = {
  upcoming: "registration not open yet",
  open: "registration open",
  closed: "registration closed, drawing",
  drawn: "drawn",
};

export function LotteryResult({ concert }: { concert: Concert }) {
  const lottery = useQuery({
    queryKey: ["lottery", concert.id],
    queryFn: () => api.lottery(concert.id),
    refetchInterval: (q) => (q.state.data?.state === "drawn" ? false : 3000),
  });
  const zone = concert.venue.time_zone;
  const l = lottery.data;
  return (
    <section className="card space-y-3" aria-labelledby="lottery-h" data-testid="lottery-result">
      <h2 id="lottery-h" className="font-semibold">
        Presale lottery{l ? ` · ${STATE_WORDS[l.state]}` : ""}
      </h2>
      {lottery.isError && <ErrorBox error={lottery.error} />}
      {l && (
        <>
          <dl className="grid gap-4 text-sm sm:grid-cols-4">
            <Item
              label="Registrations"
              value={l.registrations.toLocaleString()}
              testid="lr-registrations"
            />
            <Item
              label="Winners"
              value={(l.winners_drawn ?? l.winners).toLocaleString()}
              testid="lr-winners"
            />
            <Item
              label="Waitlist"
              value={
                l.waitlist === null || l.waitlist === undefined ? "–" : l.waitlist.toLocaleString()
              }
              testid="lr-waitlist"
            />
            <Item
              label="Drawn at"
              value={l.drawn_at ? dateTime(l.drawn_at, zone) : "–"}
              testid="lr-drawn-at"
            />
          </dl>
          <p className="text-sm text-slate-600">
            Registration {dateTime(l.registration_opens_at, zone)} –{" "}
            {dateTime(l.registration_closes_at, zone)}
            {l.winners_window_ends_at
              ? `; only winners are let in until ${dateTime(l.winners_window_ends_at, zone)}, then the waitlist in order.`
              : "."}
          </p>
          <dl className="space-y-1 break-all font-mono text-xs text-slate-600">
            <div>
              <dt className="inline font-sans font-semibold">Seed hash (published): </dt>
              <dd className="inline" data-testid="lr-seed-hash">
                {l.seed_sha256}
              </dd>
            </div>
            {l.seed && (
              <div>
                <dt className="inline font-sans font-semibold">Seed (revealed): </dt>
                <dd className="inline" data-testid="lr-seed">
                  {l.seed}
                </dd>
              </div>
            )}
            {l.entries !== null && l.entries !== undefined && (
              <div>
                <dt className="inline font-sans font-semibold">Entries drawn: </dt>
                <dd className="inline">{l.entries.toLocaleString()}</dd>
              </div>
            )}
          </dl>
        </>
      )}
    </section>
  );
}

function Item({ label, value, testid }: { label: string; value: string; testid: string }) {
  return (
    <div>
      <dt className="text-slate-500">{label}</dt>
      <dd className="text-2xl font-bold tabular-nums" data-testid={testid}>
        {value}
      </dd>
    </div>
  );
}
