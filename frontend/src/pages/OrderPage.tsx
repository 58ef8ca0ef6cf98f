import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useState } from "react";
import { Link, useParams } from "react-router-dom";
import { isApiError } from "../api/client";
import type { Order, OrderStatus, Payment } from "../api/types";
import { useAuth } from "../auth/AuthProvider";
import { Countdown } from "../components/Countdown";
import { SeatList } from "../components/SeatList";
import {
  Details,
  ErrorBox,
  LoginRequired,
  MutationButton,
  Notice,
  OrderBadge,
  PageLoading,
  Spinner,
} from "../components/ui";
import { useSecondsLeft } from "../components/useNow";
import { usePageTitle } from "../components/usePageTitle";
import { api } from "../lib/api";
import { saveFile } from "../lib/download";
import { dateTime, money } from "../lib/format";
import { notPayable, useOrderPayment } from "../lib/payments";
import { TicketCard } from "./TicketCard";

// Stripe's code loads only when a Stripe payment is shown.
const StripePayment = lazy(() => import("./StripePayment"));

const FINAL: OrderStatus[] = ["confirmed", "expired", "cancelled", "failed", "refunded"];

const EXPLAIN: Record<
  Exclude<OrderStatus, "pending_payment">,
  { tone: "success" | "warning" | "error" | "info"; title: string; text: string }
> = {
  confirmed: {
    tone: "success",
    title: "You're going! Your order is confirmed.",
    text: "Your tickets are below and under My tickets. Each QR code is checked at the door.",
  },
  expired: {
    tone: "warning",
    title: "This order expired",
    text: "The payment did not arrive before the deadline, so the seats went back on sale. Nothing was charged; if a payment still arrives late, it is refunded automatically unless the seats are still free.",
  },
  cancelled: {
    tone: "info",
    title: "This order was cancelled",
    text: "The seats went back on sale and nothing was charged.",
  },
  failed: {
    tone: "error",
    title: "The payment did not go through",
    text: "Nothing was charged and the seats were released. You can pick seats and try again.",
  },
  refunded: {
    tone: "info",
    title: "This order was refunded",
    text: "Your payment was returned in full: it arrived after the seats had been sold to someone else, it would have taken you past this concert's ticket limit per buyer, or the organiser refunded the order. Its tickets no longer admit anyone. The refund shows on your statement within a few days.",
  },
};

export function OrderPage() {
  const { orderId = "" } = useParams();
  const { user } = useAuth();
  usePageTitle("Order");
  const [paying, setPaying] = useState(false);
  const order = useQuery({
    queryKey: ["order", orderId],
    queryFn: () => api.getOrder(orderId),
    enabled: Boolean(user),
    // Follow the order until it settles: quickly right after paying, calmly while waiting.
    refetchInterval: (q) => {
      const status = q.state.data?.status;
      if (status && FINAL.includes(status)) return false;
      return paying ? 1000 : 4000;
    },
    refetchIntervalInBackground: true,
  });
  if (!user) return <LoginRequired what="see this order" next={`/orders/${orderId}`} />;
  if (order.isPending) return <PageLoading label="Loading your order" />;
  if (order.isError) return <ErrorBox error={order.error} onRetry={() => order.refetch()} />;
  return <OrderView order={order.data} paying={paying} onPaying={setPaying} />;
}

function OrderView({
  order,
  paying,
  onPaying,
}: {
  order: Order;
  paying: boolean;
  onPaying: (p: boolean) => void;
}) {
  const concert = useQuery({
    queryKey: ["concert", order.concert_id],
    queryFn: () => api.getConcert(order.concert_id),
  });
  const explain = order.status === "pending_payment" ? null : EXPLAIN[order.status];

  return (
    <div className="mx-auto max-w-4xl space-y-6">
      <div className="flex flex-wrap items-center justify-between gap-2">
        <div>
          <h1 className="text-2xl font-bold">Your order</h1>
          {concert.data && (
            <p className="text-slate-700">
              <Link className="font-semibold hover:underline" to={`/concerts/${concert.data.id}`}>
                {concert.data.title}
              </Link>{" "}
              · {concert.data.artist} ·{" "}
              <span data-testid="concert-time">
                {dateTime(concert.data.starts_at, concert.data.venue.time_zone)}
              </span>
            </p>
          )}
        </div>
        <div data-testid="order-status" data-status={order.status}>
          <OrderBadge status={order.status} />
        </div>
      </div>

      {explain && (
        <Notice tone={explain.tone} title={explain.title}>
          {explain.text}
        </Notice>
      )}

      <div className="grid gap-6 md:grid-cols-[1fr_320px]">
        <section className="card space-y-3">
          <h2 className="font-semibold">Seats</h2>
          <SeatList concert={concert.data} of={order} look="order" />
          <p className="text-xs text-slate-600">Placed {dateTime(order.created_at)}</p>
          <Details
            items={[
              ["Order", order.id],
              ["Payment", order.payment_intent_id],
            ]}
          />
        </section>
        <aside className="space-y-4">
          {order.status === "pending_payment" && (
            <PendingPayment order={order} paying={paying} onPaying={onPaying} />
          )}
          {order.status !== "pending_payment" && order.status !== "confirmed" && (
            <Link to={`/concerts/${order.concert_id}`} className="btn-primary w-full">
              Pick seats again
            </Link>
          )}
        </aside>
      </div>

      {order.status === "confirmed" && (
        <section aria-labelledby="tickets-title" className="space-y-3">
          <div className="flex flex-wrap items-center justify-between gap-2">
            <h2 id="tickets-title" className="text-xl font-semibold">
              Tickets
            </h2>
            {order.tickets.length > 0 && <DownloadTickets orderId={order.id} />}
          </div>
          {order.tickets.length === 0 && (order.tickets_given ?? 0) > 0 ? (
            <Notice tone="info">You gave this order's tickets to someone else.</Notice>
          ) : order.tickets.length === 0 ? (
            <Notice tone="info">Your tickets are being issued…</Notice>
          ) : (
            <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
              {order.tickets.map((t) => (
                <TicketCard key={t.id} ticket={t} concertTitle={concert.data?.title} />
              ))}
            </ul>
          )}
        </section>
      )}
    </div>
  );
}

function PendingPayment({
  order,
  paying,
  onPaying,
}: {
  order: Order;
  paying: boolean;
  onPaying: (p: boolean) => void;
}) {
  const queryClient = useQueryClient();
  const left = useSecondsLeft(order.expires_at) ?? 0;
  // From the service, so any tab or device of the buyer can pay, not only the one that
  // checked out.
  const resumed = useOrderPayment(order);
  const payment: Payment | undefined = resumed.data;
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["order", order.id] });
  const simulated = useMutation({
    mutationFn: (outcome: "succeeded" | "failed") =>
      api.confirmSimulatedPayment(payment?.payment_intent_id ?? "", outcome),
    onMutate: () => onPaying(true),
    onSettled: refresh,
    onError: () => {
      onPaying(false);
      // The payment may have ended meanwhile (cancelled elsewhere): ask again what is left.
      void resumed.refetch();
    },
  });
  const cancel = useMutation({ mutationFn: () => api.cancelOrder(order.id), onSettled: refresh });
  /** The button that has the simulated provider answer `outcome`. */
  const answer = (outcome: "succeeded" | "failed", className: string, label: string) => (
    <button
      type="button"
      className={className}
      disabled={simulated.isPending || left === 0}
      onClick={() => simulated.mutate(outcome)}
    >
      {label}
    </button>
  );
  const total = Math.max(
    left,
    Math.round((Date.parse(order.expires_at) - Date.parse(order.created_at)) / 1000),
  );

  return (
    <div className="space-y-4">
      <Countdown until={order.expires_at} totalSeconds={total} label="Pay within" />
      {paying ? (
        <Notice tone="info" title="Confirming your payment">
          <Spinner label="Waiting for the payment provider" />
        </Notice>
      ) : resumed.isError ? (
        <PaymentUnavailable error={resumed.error} order={order} onRetry={() => resumed.refetch()} />
      ) : !payment ? (
        <Spinner label="Getting your payment ready" />
      ) : payment.provider === "simulated" ? (
        <div className="card space-y-3">
          <h2 className="font-semibold">Pay</h2>
          <p className="text-xs text-slate-500">
            Test mode: this service uses a simulated payment provider. Choose what the bank answers.
          </p>
          {answer(
            "succeeded",
            "btn-primary w-full",
            `Pay ${money(order.amount_cents, order.currency)}`,
          )}
          {answer("failed", "btn-secondary w-full", "Simulate a declined payment")}
          {simulated.isError && <ErrorBox error={simulated.error} />}
        </div>
      ) : (
        <Suspense fallback={<Spinner label="Loading the payment form" />}>
          <StripePayment payment={payment} order={order} onPaid={() => onPaying(true)} />
        </Suspense>
      )}
      {!paying && (
        <MutationButton mutation={cancel} className="btn-secondary w-full" busyLabel="Cancelling…">
          Cancel order and release seats
        </MutationButton>
      )}
      {cancel.isError && <ErrorBox error={cancel.error} />}
    </div>
  );
}

/** Why this order can't be paid from here: nothing left to pay (409 OrderNotPayable, in the
 * service's words), or the service could not be asked. */
function PaymentUnavailable({
  error,
  order,
  onRetry,
}: {
  error: unknown;
  order: Order;
  onRetry: () => void;
}) {
  const queryClient = useQueryClient();
  const over = notPayable(error);
  // The order itself has probably moved on too: show where it is now.
  useEffect(() => {
    if (over) void queryClient.invalidateQueries({ queryKey: ["order", order.id] });
  }, [over, order.id, queryClient]);
  if (!over) return <ErrorBox error={error} onRetry={onRetry} />;
  return (
    <div className="space-y-3" data-testid="order-not-payable">
      <Notice tone="warning" title="This order can't be paid any more">
        {isApiError(error) ? error.detail : null}
      </Notice>
      <Link to={`/concerts/${order.concert_id}`} className="btn-primary w-full">
        Pick seats again
      </Link>
    </div>
  );
}

/** The tickets as a PDF to print or keep on the phone (one page per ticket, its QR code), and
 * the show as an .ics file for the buyer's calendar. */
function DownloadTickets({ orderId }: { orderId: string }) {
  const pdf = useMutation({
    mutationFn: async () => saveFile(await api.ticketsPdf(orderId), `tickets-${orderId}.pdf`),
  });
  const calendar = useMutation({
    mutationFn: async () => saveFile(await api.orderCalendar(orderId), `concert-${orderId}.ics`),
  });
  return (
    <div className="flex flex-col items-end gap-1">
      <div className="flex flex-wrap justify-end gap-2">
        <button
          type="button"
          className="btn-secondary"
          onClick={() => pdf.mutate()}
          disabled={pdf.isPending}
        >
          {pdf.isPending ? "Preparing…" : "Download tickets (PDF)"}
        </button>
        <button
          type="button"
          className="btn-secondary"
          onClick={() => calendar.mutate()}
          disabled={calendar.isPending}
        >
          {calendar.isPending ? "Preparing…" : "Add to calendar"}
        </button>
      </div>
      {pdf.isError && <ErrorBox error={pdf.error} className="max-w-xs" />}
      {calendar.isError && <ErrorBox error={calendar.error} className="max-w-xs" />}
    </div>
  );
}
