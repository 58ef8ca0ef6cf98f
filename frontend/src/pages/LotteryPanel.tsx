// A fan's side of a presale lottery (docs/waiting-room.md, "Presale lottery"), on the concert
// page: register while registration is open (with the proof-of-work check when the queue asks
// for one), then the result once drawn: "you may enter at HH:MM (venue time)" or the waitlist
// number.

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Suspense, useState } from "react";
import { Link } from "react-router-dom";
import { isApiError } from "../api/client";
import type { Concert, Lottery, Registration } from "../api/types";
import { useAuth } from "../auth/AuthProvider";
import { LazyAltchaChallenge } from "../components/LazyAltchaChallenge";
import { ErrorBox, Notice, PageLoading } from "../components/ui";
import { api } from "../lib/api";
import { dateTime, zoneName } from "../lib/format";
import { knownZone } from "../lib/localTime";

/** "14:05" at the venue. */
export function venueClock(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat(undefined, {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZone: knownZone(timeZone),
  }).format(new Date(iso));
}

export function LotteryPanel({ concert }: { concert: Concert }) {
  const { user } = useAuth();
  const zone = concert.venue.time_zone;
  const lottery = useQuery({
    queryKey: ["lottery", concert.id],
    queryFn: () => api.lottery(concert.id),
    // Often around the close, when the draw is about to come out; rarely otherwise.
    refetchInterval: (q) => (q.state.data?.state === "drawn" ? false : 5000),
  });
  const mine = useQuery({
    queryKey: ["registration", concert.id, user?.id],
    enabled: Boolean(user),
    queryFn: async (): Promise<Registration | null> => {
      try {
        return await api.myRegistration(concert.id);
      } catch (e) {
        if (isApiError(e) && e.code === "NotRegistered") return null;
        throw e;
      }
    },
    refetchInterval: (q) => (q.state.data?.status === "registered" ? 5000 : false),
  });
  const l = lottery.data;
  return (
    <section
      className="card space-y-3 border-brand-500"
      aria-labelledby="lottery-h"
      data-testid="lottery-panel"
    >
      <h2 id="lottery-h" className="font-semibold">
        Presale lottery
      </h2>
      <p className="text-sm text-slate-600">
        Fans register ahead; a draw picks who may buy first, in the draw's order. Being quick gives
        no advantage.
      </p>
      {lottery.isError && <ErrorBox error={lottery.error} />}
      {l && <Window lottery={l} zone={zone} />}
      {!user && l && (l.state === "closed" || l.state === "drawn") ? (
        <p className="text-sm text-slate-600" data-testid="lottery-status">
          Registration has closed. Seats left after the winners and the waitlist go to everyone in
          the waiting room.
        </p>
      ) : !user ? (
        <Link
          className="btn-primary w-full"
          to={`/login?next=${encodeURIComponent(`/concerts/${concert.id}`)}`}
        >
          Log in to register
        </Link>
      ) : mine.isError ? (
        <ErrorBox error={mine.error} />
      ) : mine.data ? (
        <Result registration={mine.data} concert={concert} />
      ) : mine.data === null && l?.state === "open" ? (
        <RegisterForm concert={concert} />
      ) : mine.data === null && l && l.state !== "upcoming" ? (
        <p className="text-sm text-slate-600" data-testid="lottery-status">
          Registration has closed. Seats left after the winners and the waitlist go to everyone in
          the waiting room.
        </p>
      ) : null}
    </section>
  );
}

function Window({ lottery: l, zone }: { lottery: Lottery; zone: string }) {
  if (l.state === "upcoming") {
    return (
      <p className="text-sm">
        Registration opens {dateTime(l.registration_opens_at, zone)} and closes{" "}
        {dateTime(l.registration_closes_at, zone)}.
      </p>
    );
  }
  if (l.state === "open") {
    return (
      <p className="text-sm">
        Registration is open until {dateTime(l.registration_closes_at, zone)} ·{" "}
        {l.registrations.toLocaleString()} registered for {l.winners.toLocaleString()} places.
      </p>
    );
  }
  if (l.state === "closed") {
    return <p className="text-sm">Registration has closed; the draw is being made…</p>;
  }
  return (
    <p className="text-sm">
      Drawn {l.drawn_at ? dateTime(l.drawn_at, zone) : ""}: {l.winners_drawn?.toLocaleString()} of{" "}
      {l.entries?.toLocaleString()} entries won.
    </p>
  );
}

function RegisterForm({ concert }: { concert: Concert }) {
  const queryClient = useQueryClient();
  const needsCheck = concert.queue.challenge === true;
  const [altcha, setAltcha] = useState<string | null>(null);
  const [round, setRound] = useState(0);
  const register = useMutation({
    mutationFn: () => api.registerForLottery(concert.id, altcha),
    onSuccess: () => {
      queryClient.invalidateQueries({ queryKey: ["registration", concert.id] });
      queryClient.invalidateQueries({ queryKey: ["lottery", concert.id] });
    },
    onError: (e) => {
      // A solution is good once: a refused or spent one needs a new check.
      if (isApiError(e) && (e.code === "ChallengeFailed" || e.code === "ChallengeRequired")) {
        setAltcha(null);
        setRound((n) => n + 1);
      }
    },
  });
  const error = register.error;
  return (
    <div className="space-y-2">
      {needsCheck && (
        <Suspense fallback={<PageLoading label="Preparing the check" />}>
          <LazyAltchaChallenge key={round} concertId={concert.id} onSolved={setAltcha} />
        </Suspense>
      )}
      <button
        type="button"
        className="btn-primary w-full"
        disabled={register.isPending || (needsCheck && altcha === null)}
        onClick={() => register.mutate()}
      >
        {register.isPending ? "Registering…" : "Register for the presale"}
      </button>
      {isApiError(error) && error.code === "EmailNotVerified" ? (
        <Notice tone="warning" className="text-sm">
          Verify your email address first: open the link we mailed you, or have it sent again from{" "}
          <Link to="/account">your account page</Link>.
        </Notice>
      ) : (
        error && <ErrorBox error={error} />
      )}
    </div>
  );
}

function Result({ registration: r, concert }: { registration: Registration; concert: Concert }) {
  const zone = concert.venue.time_zone;
  const join = (
    <Link className="btn-primary w-full" to={`/concerts/${concert.id}/queue`}>
      Join the waiting room
    </Link>
  );
  if (r.status === "won" && r.enter_at) {
    return (
      <div className="space-y-2" data-testid="lottery-status" data-status="won">
        <Notice tone="success" title="You won the draw">
          You may enter at <strong>{venueClock(r.enter_at, zone)}</strong> ({zoneName(zone)}),{" "}
          {dateTime(r.enter_at, zone)}. Join the waiting room before then; winners are let in in
          draw order (you are number {r.position}).
        </Notice>
        {join}
      </div>
    );
  }
  if (r.status === "lost") {
    return (
      <div className="space-y-2" data-testid="lottery-status" data-status="lost">
        <Notice tone="info" title="Not this time">
          You are on the waitlist: <strong>#{r.waitlist_position}</strong>. Seats left after the
          winners' window
          {r.waitlist_from ? ` (${venueClock(r.waitlist_from, zone)}, ${zoneName(zone)})` : ""} are
          offered to the waitlist in this order. Join the waiting room to keep your turn.
        </Notice>
        {join}
      </div>
    );
  }
  return (
    <p className="text-sm" data-testid="lottery-status" data-status="registered">
      <strong>You're registered.</strong>{" "}
      {r.draw_at ? `The draw is at ${dateTime(r.draw_at, zone)}; ` : ""}
      check back here for the result.
    </p>
  );
}
