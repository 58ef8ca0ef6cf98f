import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { isApiError, newIdempotencyKey } from "../api/client";
import { useAuth } from "../auth/AuthProvider";
import { Countdown } from "../components/Countdown";
import { SeatList } from "../components/SeatList";
import {
  Details,
  ErrorBox,
  LoginRequired,
  MutationButton,
  Notice,
  PageLoading,
} from "../components/ui";
import { useSecondsLeft } from "../components/useNow";
import { usePageTitle } from "../components/usePageTitle";
import { api } from "../lib/api";
import { dateTime } from "../lib/format";
import { rememberPayment } from "../lib/payments";
import { loadPass } from "../lib/queuePass";

const HOLD_SECONDS = 300;

export function CheckoutPage() {
  const [params] = useSearchParams();
  const holdId = params.get("hold") ?? "";
  const { user } = useAuth();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const concertHint = params.get("concert") ?? "";
  const hold = useQuery({
    queryKey: ["hold", holdId],
    queryFn: () => api.getHold(holdId),
    enabled: Boolean(user && holdId),
    staleTime: Number.POSITIVE_INFINITY,
    retry: (n, e) => isApiError(e) && e.transient && n < 3,
  });
  const concertId = hold.data?.concert_id ?? concertHint;
  const concert = useQuery({
    queryKey: ["concert", concertId],
    queryFn: () => api.getConcert(concertId),
    enabled: Boolean(concertId),
  });
  const left = useSecondsLeft(hold.data?.expires_at);
  const idempotencyKey = useRef(newIdempotencyKey());
  const [released, setReleased] = useState(false);
  usePageTitle("Checkout");

  const checkout = useMutation({
    mutationFn: () =>
      api.checkout(holdId, {
        idempotencyKey: idempotencyKey.current,
        queuePass: concertId ? (loadPass(concertId)?.pass ?? null) : null,
      }),
    onSuccess: (r) => {
      rememberPayment(queryClient, r.order.id, r.payment);
      navigate(`/orders/${encodeURIComponent(r.order.id)}`);
    },
    onError: () => {
      idempotencyKey.current = newIdempotencyKey();
    },
  });
  const release = useMutation({
    mutationFn: () => api.releaseHold(holdId),
    onSuccess: () => {
      setReleased(true);
      navigate(concertId ? `/concerts/${concertId}` : "/");
    },
  });

  // No hold to pay for (typed or bookmarked address, a hold already used): say so.
  if (!holdId) return <NoHold concertId={concertHint} />;
  if (!user) {
    return <LoginRequired what="check out" next={`/checkout?${params.toString()}`} />;
  }
  if (hold.isPending) return <PageLoading label="Loading your hold" />;
  const backToSeats = concertId ? `/concerts/${concertId}` : "/";
  if (hold.isError || released) {
    return (
      <div className="mx-auto max-w-xl space-y-4">
        <ErrorBox error={hold.error} />
        <Link to={backToSeats} className="btn-primary">
          Pick seats again
        </Link>
      </div>
    );
  }
  const h = hold.data;
  const expired = left === 0;

  return (
    <div className="mx-auto grid max-w-4xl gap-6 md:grid-cols-[1fr_300px]">
      <section className="card space-y-4">
        <h1 className="text-2xl font-bold">Checkout</h1>
        {concert.data && (
          <p className="text-slate-700">
            <b>{concert.data.title}</b> · {concert.data.artist}
            <br />
            <span className="text-sm text-slate-600">
              {concert.data.venue.name}, {concert.data.venue.city} ·{" "}
              {dateTime(concert.data.starts_at, concert.data.venue.time_zone)}
            </span>
          </p>
        )}
        <SeatList concert={concert.data} of={h} look="hold" />
        <Details items={[["Hold", h.id]]} />
      </section>
      <aside className="space-y-4">
        <Countdown
          until={h.expires_at}
          totalSeconds={Math.max(HOLD_SECONDS, left ?? 0)}
          label="Seats held for you"
        />
        {expired ? (
          <Notice tone="warning" title="Your hold has ended">
            The seats went back on sale.{" "}
            <Link className="font-semibold underline" to={backToSeats}>
              Pick seats again
            </Link>
          </Notice>
        ) : (
          <>
            {checkout.isError && <ErrorBox error={checkout.error} />}
            <MutationButton
              mutation={checkout}
              className="btn-primary w-full"
              disabled={release.isPending}
              busyLabel="Creating your order…"
            >
              Continue to payment
            </MutationButton>
            <MutationButton
              mutation={release}
              className="btn-secondary w-full"
              disabled={checkout.isPending}
              busyLabel="Releasing…"
            >
              Release these seats
            </MutationButton>
            {release.isError && <ErrorBox error={release.error} />}
            {isApiError(release.error) && release.error.body?.order_id && (
              <Link
                className="btn-secondary w-full"
                to={`/orders/${encodeURIComponent(release.error.body.order_id)}`}
              >
                Open the order
              </Link>
            )}
          </>
        )}
        <p className="text-xs text-slate-500">
          Nothing is charged until you pay on the next step. Once you continue, you have until the
          order's deadline to pay.
        </p>
      </aside>
    </div>
  );
}

/** `/checkout` without a hold: checkout starts on a concert's page. */
function NoHold({ concertId }: { concertId: string }) {
  return (
    <div className="card mx-auto max-w-md text-center" data-testid="no-hold">
      <h1 className="text-xl font-semibold">No seats are held for you</h1>
      <p className="mt-2 text-sm text-slate-600">
        Checkout starts on a concert's page: pick seats and hold them, and you come here to pay.
      </p>
      <Link
        to={concertId ? `/concerts/${encodeURIComponent(concertId)}` : "/"}
        className="btn-primary mt-4"
      >
        {concertId ? "Pick seats" : "Browse concerts"}
      </Link>
    </div>
  );
}
