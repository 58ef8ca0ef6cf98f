import { useMutation, useQueries, useQuery } from "@tanstack/react-query";
import { type FormEvent, type ReactNode, useState } from "react";
import { Link } from "react-router-dom";
import { isApiError } from "../api/client";
import { allFieldsShown, fieldErrors } from "../api/errors";
import type { Concert, Order, Ticket } from "../api/types";
import { useAuth } from "../auth/AuthProvider";
import {
  ErrorBox,
  InputField,
  Loaded,
  LoginRequired,
  Notice,
  OrderBadge,
  type QueryState,
} from "../components/ui";
import { usePageTitle } from "../components/usePageTitle";
import { api } from "../lib/api";
import { dateTime, money } from "../lib/format";
import { TicketCard } from "./TicketCard";

const NO_TICKETS = (
  <div className="card text-slate-600">
    No tickets yet.{" "}
    <Link className="font-semibold text-brand-700 underline" to="/">
      Find a concert
    </Link>
  </div>
);

const NO_ORDERS = <p className="text-slate-600">No orders yet.</p>;

export function AccountPage() {
  const { user } = useAuth();
  usePageTitle("My tickets");
  const orders = useQuery({
    queryKey: ["me", "orders"],
    queryFn: () => api.myOrders(),
    enabled: Boolean(user),
  });
  const tickets = useQuery({
    queryKey: ["me", "tickets"],
    queryFn: () => api.myTickets(),
    enabled: Boolean(user),
  });
  const concertIds = [
    ...new Set([
      ...(orders.data?.items ?? []).map((o) => o.concert_id),
      ...(tickets.data?.items ?? []).map((t) => t.concert_id),
    ]),
  ];
  const concerts = useQueries({
    queries: concertIds.map((id) => ({
      queryKey: ["concert", id],
      queryFn: () => api.getConcert(id),
      staleTime: 60_000,
    })),
  });
  const byId = new Map<string, Concert>();
  for (const q of concerts) if (q.data) byId.set(q.data.id, q.data);

  if (!user) return <LoginRequired what="see your tickets" next="/account" />;
  return (
    <div className="space-y-8">
      <div>
        <h1 className="text-2xl font-bold">My tickets</h1>
        <p className="text-slate-600">
          {user.name} · {user.email}
        </p>
      </div>
      <EmailSection />
      <TitledSection id="tickets-h" title="Tickets">
        <Items query={tickets} label="Loading tickets" empty={NO_TICKETS}>
          {(items) => <TicketGroups tickets={items} concerts={byId} />}
        </Items>
      </TitledSection>
      <TitledSection id="orders-h" title="Booking history">
        <Items query={orders} label="Loading orders" empty={NO_ORDERS}>
          {(items) => (
            <ul className="divide-y divide-slate-100 overflow-hidden rounded-xl border border-slate-200 bg-white">
              {items.map((o) => (
                <OrderRow key={o.id} order={o} concert={byId.get(o.concert_id)} />
              ))}
            </ul>
          )}
        </Items>
      </TitledSection>
      <PasswordSection email={user.email} />
    </div>
  );
}

/** Whether the address is verified (some presales need it), and a new link on demand. */
function EmailSection() {
  const me = useQuery({ queryKey: ["me", "account"], queryFn: () => api.me() });
  const resend = useMutation({ mutationFn: () => api.resendVerification() });
  const account = me.data;
  if (!account) return null;
  if (account.email_verified) {
    return (
      <p className="text-sm text-emerald-800" data-testid="email-status" data-verified="true">
        ✓ Your email address {account.email} is confirmed.
      </p>
    );
  }
  const alreadyDone = isApiError(resend.error) && resend.error.code === "EmailAlreadyVerified";
  return (
    <div className="card space-y-3" data-testid="email-status" data-verified="false">
      <p className="font-semibold">Your email address is not confirmed yet</p>
      <p className="text-sm text-slate-600">
        We sent a link to {account.email} when you signed up. Open it to confirm the address: some
        presales are open only to fans with a confirmed address.
      </p>
      {resend.isSuccess ? (
        <Notice tone="success" title="A new link is on its way">
          Check {resend.data.email} in a minute or two (and your spam folder). The link works for{" "}
          {resend.data.valid_hours} hours.
        </Notice>
      ) : alreadyDone ? (
        <Notice tone="success" title="Already confirmed">
          Your address is confirmed: there is nothing more to do.
        </Notice>
      ) : (
        resend.isError && <ErrorBox error={resend.error} />
      )}
      <button
        type="button"
        className="btn-secondary"
        disabled={resend.isPending || resend.isSuccess}
        onClick={() => resend.mutate()}
      >
        {resend.isPending ? "Sending…" : "Resend the link"}
      </button>
    </div>
  );
}

/** Change the password: the service ends every login of the account, this one is renewed. */
function PasswordSection({ email }: { email: string }) {
  const { changePassword } = useAuth();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [repeat, setRepeat] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [mismatch, setMismatch] = useState(false);
  const [done, setDone] = useState(false);
  const fields = fieldErrors(error);
  const wrongCurrent = isApiError(error) && error.code === "InvalidCredentials";

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setDone(false);
    setError(null);
    setMismatch(next !== repeat);
    if (next !== repeat) return;
    setBusy(true);
    try {
      if (await changePassword(current, next)) {
        setDone(true);
        setCurrent("");
        setNext("");
        setRepeat("");
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const shownError =
    error !== null && !wrongCurrent && !allFieldsShown(error, ["current_password", "new_password"]);
  return (
    <TitledSection id="password-h" title="Password">
      <form className="card max-w-md space-y-4" onSubmit={submit} noValidate>
        {done && (
          <Notice tone="success" title="Password changed">
            Every other device and browser logged in to this account has been logged out.
          </Notice>
        )}
        {shownError && <ErrorBox error={error} />}
        {/* For password managers: whose password this is. */}
        <input type="email" autoComplete="username" value={email} readOnly hidden />
        <InputField
          label="Current password"
          id="current-password"
          type="password"
          autoComplete="current-password"
          required
          value={current}
          onValue={setCurrent}
          error={wrongCurrent ? "This is not your current password." : fields.current_password}
          aria-invalid={wrongCurrent || Boolean(fields.current_password)}
        />
        <InputField
          label="New password"
          id="new-password"
          type="password"
          autoComplete="new-password"
          hint="At least 8 characters."
          required
          minLength={8}
          value={next}
          onValue={setNext}
          error={fields.new_password}
          aria-invalid={Boolean(fields.new_password)}
        />
        <InputField
          label="New password again"
          id="repeat-password"
          type="password"
          autoComplete="new-password"
          required
          value={repeat}
          onValue={setRepeat}
          error={mismatch ? "The two new passwords differ." : undefined}
          aria-invalid={mismatch}
        />
        <button type="submit" className="btn-primary" disabled={busy}>
          {busy ? "Please wait…" : "Change password"}
        </button>
      </form>
    </TitledSection>
  );
}

/** A list of the account's: `empty` when it has nothing yet. */
function Items<T>({
  query,
  label,
  empty,
  children,
}: {
  query: QueryState<{ items: T[] }>;
  label: string;
  empty: ReactNode;
  children: (items: T[]) => ReactNode;
}) {
  return (
    <Loaded query={query} label={label}>
      {(data) => (data.items.length === 0 ? empty : children(data.items))}
    </Loaded>
  );
}

/** A part of the page under its own heading (`id` names the heading). */
function TitledSection({
  id,
  title,
  children,
}: {
  id: string;
  title: string;
  children: ReactNode;
}) {
  return (
    <section aria-labelledby={id} className="space-y-3">
      <h2 id={id} className="text-xl font-semibold">
        {title}
      </h2>
      {children}
    </section>
  );
}

function TicketGroups({
  tickets,
  concerts,
}: {
  tickets: Ticket[];
  concerts: Map<string, Concert>;
}) {
  const groups = new Map<string, Ticket[]>();
  for (const t of tickets) groups.set(t.concert_id, [...(groups.get(t.concert_id) ?? []), t]);
  return (
    <div className="space-y-6">
      {[...groups].map(([concertId, list]) => {
        const c = concerts.get(concertId);
        return (
          <div key={concertId}>
            <h3 className="mb-2 font-semibold">
              {c
                ? `${c.title} · ${c.venue.name} · ${dateTime(c.starts_at, c.venue.time_zone)}`
                : "Concert"}
            </h3>
            <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3">
              {list.map((t) => (
                <TicketCard key={t.id} ticket={t} />
              ))}
            </ul>
          </div>
        );
      })}
    </div>
  );
}

function OrderRow({ order, concert }: { order: Order; concert: Concert | undefined }) {
  return (
    <li>
      <Link
        to={`/orders/${order.id}`}
        className="flex flex-wrap items-center justify-between gap-2 px-4 py-3 hover:bg-slate-50"
      >
        <span>
          <span className="font-medium">{concert?.title ?? "Concert"}</span>
          <span className="block text-xs text-slate-500">
            {dateTime(order.created_at)} · {order.seat_ids.length} seat
            {order.seat_ids.length === 1 ? "" : "s"}
          </span>
        </span>
        <span className="flex items-center gap-3">
          <span className="text-sm font-semibold">{money(order.amount_cents, order.currency)}</span>
          <OrderBadge status={order.status} />
        </span>
      </Link>
    </li>
  );
}
