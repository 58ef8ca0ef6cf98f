import { useQuery } from "@tanstack/react-query";
import { Suspense, useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { isApiError } from "../api/client";
import type { QueueStatus } from "../api/types";
import { useAuth } from "../auth/AuthProvider";
import { LazyAltchaChallenge } from "../components/LazyAltchaChallenge";
import { ErrorBox, LoginRequired, Notice, PageLoading } from "../components/ui";
import { useSecondsLeft } from "../components/useNow";
import { usePageTitle } from "../components/usePageTitle";
import { api } from "../lib/api";
import { clock, dateTime, roughly } from "../lib/format";
import { needsNewCheck, pollQueue, savePass } from "../lib/queuePass";

/** The waiting room: join once, then ask again exactly when the service says to. */
export function QueuePage() {
  const { concertId = "" } = useParams();
  const { user } = useAuth();
  const navigate = useNavigate();
  const joined = useRef(false);
  const firstAhead = useRef<number | null>(null);
  const polledAt = useRef(Date.now());
  const [rejoined, setRejoined] = useState(false);
  // The solved proof-of-work challenge, when the concert's queue asks for one (good once).
  const [altcha, setAltcha] = useState<string | null>(null);
  const [checkRound, setCheckRound] = useState(0);
  // First a join without one: a fan who already has a place (a reload) keeps it without a
  // check; a newcomer is refused with ChallengeRequired and then does the check.
  const [bareTry, setBareTry] = useState(true);

  const concert = useQuery({
    queryKey: ["concert", concertId],
    queryFn: () => api.getConcert(concertId),
  });
  const needsCheck = concert.data?.queue.challenge === true;
  const status = useQuery({
    queryKey: ["queue", concertId, altcha],
    enabled:
      Boolean(user) && concert.data !== undefined && (!needsCheck || altcha !== null || bareTry),
    queryFn: async (): Promise<QueueStatus> => {
      polledAt.current = Date.now();
      // Our place may be lost (a service interruption): pollQueue joins again by itself.
      const step = await pollQueue(api, concertId, joined.current, altcha);
      joined.current = true;
      if (step.rejoined) {
        firstAhead.current = null;
        setRejoined(true);
      }
      return step.status;
    },
    refetchInterval: (q) => {
      const s = q.state.data;
      if (s?.state !== "waiting") return false;
      return Math.max(1, s.poll_after_seconds) * 1000;
    },
    refetchIntervalInBackground: true,
    staleTime: Number.POSITIVE_INFINITY,
    gcTime: 0,
    retry: (n, e) => isApiError(e) && (e.transient || e.code === "QueueNotOpen") && n < 20,
    retryDelay: (n, e) =>
      isApiError(e) && e.retryAfter !== null
        ? e.retryAfter * 1000
        : Math.min(2000 * 2 ** n, 30_000),
  });

  usePageTitle(concert.data ? `Waiting room · ${concert.data.title}` : "Waiting room");
  const s = status.data;
  if (s?.state === "waiting" && s.ahead !== null) {
    firstAhead.current = Math.max(firstAhead.current ?? 0, s.ahead);
  }

  // Admitted: keep the pass and go straight to seat selection.
  useEffect(() => {
    if (s?.state === "admitted" && s.pass) {
      savePass(concertId, s.pass, s.pass_expires_at ?? null);
      const t = setTimeout(() => navigate(`/concerts/${concertId}`, { replace: true }), 1200);
      return () => clearTimeout(t);
    }
  }, [s, concertId, navigate]);

  // The join wants a (new) check: the solution expired or was used for a place since lost.
  const checkAgain = needsNewCheck(status.error);
  useEffect(() => {
    if (!checkAgain) return;
    setBareTry(false);
    joined.current = false;
    setAltcha(null);
    setCheckRound((n) => n + 1);
  }, [checkAgain]);

  // A concert without a waiting room needs no pass.
  const notEnabled = isApiError(status.error) && status.error.code === "QueueNotEnabled";
  useEffect(() => {
    if (notEnabled) navigate(`/concerts/${concertId}`, { replace: true });
  }, [notEnabled, concertId, navigate]);

  if (!user)
    return <LoginRequired what="join the waiting room" next={`/concerts/${concertId}/queue`} />;

  return (
    <div className="mx-auto max-w-xl space-y-6">
      <div>
        <Link to={`/concerts/${concertId}`} className="text-sm text-brand-700 hover:underline">
          ← Back to the concert
        </Link>
        <h1 className="mt-2 text-2xl font-bold">Waiting room</h1>
        {concert.data && (
          <p className="text-slate-700">
            {concert.data.title} · {concert.data.artist} · on sale{" "}
            {dateTime(concert.data.on_sale_at, concert.data.venue.time_zone)}
          </p>
        )}
      </div>
      {concert.isError && !concert.data ? (
        <ErrorBox error={concert.error} onRetry={() => concert.refetch()} />
      ) : needsCheck && altcha === null && (!bareTry || checkAgain) ? (
        <div className="card space-y-3">
          <p className="text-lg font-semibold">Before you join the line</p>
          <Suspense fallback={<PageLoading label="Preparing the check" />}>
            <LazyAltchaChallenge key={checkRound} concertId={concertId} onSolved={setAltcha} />
          </Suspense>
          <p className="text-sm text-slate-600">
            This on-sale is popular with ticket bots, so every device does a small puzzle before
            joining. You join as soon as it is done; nothing to click.
          </p>
        </div>
      ) : status.isPending ? (
        <PageLoading label="Joining the line" />
      ) : status.isError && !s ? (
        <ErrorBox error={status.error} onRetry={() => status.refetch()} />
      ) : s ? (
        <QueueCard
          status={s}
          firstAhead={firstAhead.current}
          polledAt={polledAt.current}
          concertId={concertId}
          lottery={concert.data?.queue.mode === "lottery"}
        />
      ) : null}
      {rejoined && s?.state === "waiting" && (
        <Notice tone="info" title="You're back in the line">
          Your place was lost in a service interruption, so we joined you again. Keep this page
          open.
        </Notice>
      )}
      {status.isError && s && (
        <Notice tone="warning" title="Having trouble checking your place">
          We keep trying; your place in line is safe.
        </Notice>
      )}
    </div>
  );
}

function QueueCard({
  status: s,
  firstAhead,
  polledAt,
  concertId,
  lottery,
}: {
  status: QueueStatus;
  firstAhead: number | null;
  polledAt: number;
  concertId: string;
  /** The on-sale had a presale draw: its winners go first, then its waitlist. */
  lottery: boolean;
}) {
  const nextCheck = useSecondsLeft(new Date(polledAt + s.poll_after_seconds * 1000).toISOString());
  const drawIn = useSecondsLeft(s.draw_at ?? null);
  if (s.state === "admitted") {
    return (
      <Notice tone="success" title="It's your turn!">
        Taking you to seat selection…{" "}
        <Link className="font-semibold underline" to={`/concerts/${concertId}`}>
          Go now
        </Link>
      </Notice>
    );
  }
  if (s.state === "closed") {
    return (
      <Notice tone="info" title="The waiting room is closed">
        This on-sale is over: the concert has started or tickets are no longer sold here.
      </Notice>
    );
  }
  const progress =
    s.ahead === null || !firstAhead
      ? 0
      : Math.max(0.02, Math.min(1, 1 - s.ahead / Math.max(firstAhead, 1)));
  return (
    <div className="card space-y-5" data-testid="queue-card">
      {s.position === null ? (
        <div>
          <p className="text-lg font-semibold">You're in the line.</p>
          <p className="mt-1 text-sm text-slate-600">
            {lottery && "The presale draw's winners go first, in draw order, then its waitlist. "}
            {lottery ? "Everyone else" : "Everyone"} who arrives before the on-sale gets a random
            place when it opens
            {drawIn !== null && (
              <>
                {" "}
                in <b className="font-mono">{clock(drawIn)}</b>
              </>
            )}
            . Arriving earlier gives no advantage, and you keep your place if you leave this page
            open.
          </p>
        </div>
      ) : (
        <div className="grid grid-cols-2 gap-4 text-center">
          <div>
            <p className="text-sm text-slate-500">Your place</p>
            <p className="text-4xl font-bold tabular-nums" data-testid="queue-position">
              {s.position.toLocaleString()}
            </p>
          </div>
          <div>
            <p className="text-sm text-slate-500">Estimated wait</p>
            <p className="text-2xl font-semibold">
              {s.eta_seconds !== null ? roughly(s.eta_seconds) : "—"}
            </p>
          </div>
        </div>
      )}
      <div>
        <div
          className="h-3 overflow-hidden rounded-full bg-slate-100"
          role="progressbar"
          aria-label="Progress through the line"
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.round(progress * 100)}
        >
          <div
            className="h-full bg-brand-600 transition-all duration-700"
            style={{ width: `${progress * 100}%` }}
          />
        </div>
        <p className="mt-2 flex justify-between text-xs text-slate-500">
          <span>
            {s.ahead !== null ? `${s.ahead.toLocaleString()} ahead of you` : "Places not drawn yet"}
            {s.queue_depth !== undefined && ` · ${s.queue_depth.toLocaleString()} waiting`}
          </span>
          <span aria-live="off">Next update in {nextCheck ?? s.poll_after_seconds}s</span>
        </p>
      </div>
      <p className="text-sm text-slate-600">
        Keep this page open: as soon as it's your turn you go straight to seat selection, with a
        pass valid for a few minutes.
      </p>
    </div>
  );
}
