// Stripe's Payment Element. Stripe.js must come from js.stripe.com; when it can't be loaded
// (offline, blocked, down) the buyer is told so, and the seats stay held until the deadline.

import { Elements, PaymentElement, useElements, useStripe } from "@stripe/react-stripe-js";
import type { Stripe } from "@stripe/stripe-js";
import { loadStripe } from "@stripe/stripe-js/pure";
import { type FormEvent, useMemo, useState } from "react";
import type { Order, Payment } from "../api/types";
import { Notice, Spinner } from "../components/ui";
import { money } from "../lib/format";

const loaders = new Map<string, Promise<Stripe | null>>();

function stripeFor(key: string): Promise<Stripe | null> {
  let p = loaders.get(key);
  if (!p) {
    p = loadStripe(key);
    // A failed load may succeed later (network back): don't keep the rejection.
    p.catch(() => loaders.delete(key));
    loaders.set(key, p);
  }
  return p;
}

export default function StripePayment({
  payment,
  order,
  onPaid,
}: {
  payment: Payment;
  order: Order;
  onPaid: () => void;
}) {
  const [attempt, setAttempt] = useState(0);
  const [loadError, setLoadError] = useState(false);
  const key = payment.publishable_key ?? "";
  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` retries the load
  const stripe = useMemo(() => {
    if (!key) return null;
    const p = stripeFor(key);
    p.then(
      (s) => setLoadError(!s),
      () => setLoadError(true),
    );
    return p.catch(() => null);
  }, [key, attempt]);

  if (!key) {
    return (
      <Notice tone="error" title="Payments are not set up">
        The service did not provide a Stripe publishable key. Please contact the organiser.
      </Notice>
    );
  }
  if (loadError) {
    return (
      <Notice tone="error" title="Can't reach Stripe">
        <p>
          The secure payment form comes from Stripe and could not be loaded. Check your connection
          (or an ad blocker), then try again. Your seats stay held until the countdown ends.
        </p>
        <button
          type="button"
          className="btn-secondary mt-3"
          onClick={() => {
            setLoadError(false);
            setAttempt((a) => a + 1);
          }}
        >
          Try again
        </button>
      </Notice>
    );
  }
  return (
    <div className="card" data-testid="stripe-payment">
      <Elements stripe={stripe} options={{ clientSecret: payment.client_secret }}>
        <PayForm order={order} onPaid={onPaid} />
      </Elements>
    </div>
  );
}

function PayForm({ order, onPaid }: { order: Order; onPaid: () => void }) {
  const stripe = useStripe();
  const elements = useElements();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!stripe || !elements) return;
    setBusy(true);
    setError(null);
    const result = await stripe.confirmPayment({
      elements,
      confirmParams: { return_url: `${window.location.origin}/orders/${order.id}` },
      redirect: "if_required",
    });
    setBusy(false);
    if (result.error) setError(result.error.message ?? "The payment was not accepted.");
    else onPaid();
  };
  return (
    <form onSubmit={submit} className="space-y-3">
      {!stripe ? <Spinner label="Loading the payment form" /> : <PaymentElement />}
      {error && (
        <p role="alert" className="text-sm text-rose-700">
          {error}
        </p>
      )}
      <button type="submit" className="btn-primary w-full" disabled={!stripe || busy}>
        {busy ? "Paying…" : `Pay ${money(order.amount_cents, order.currency)}`}
      </button>
    </form>
  );
}
