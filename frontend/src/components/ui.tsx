import type { InputHTMLAttributes, ReactNode } from "react";
import { Link } from "react-router-dom";
import { isApiError } from "../api/client";
import { describeError } from "../api/errors";
import type { ConcertStatus, OrderStatus } from "../api/types";

export function Spinner({ label = "Loading" }: { label?: string }) {
  return (
    <span className="inline-flex items-center gap-2 text-sm text-slate-500" role="status">
      <span
        aria-hidden="true"
        className="h-4 w-4 animate-spin rounded-full border-2 border-slate-300 border-t-brand-600"
      />
      {label}…
    </span>
  );
}

export function PageLoading({ label = "Loading" }: { label?: string }) {
  return (
    <div className="flex min-h-[30vh] items-center justify-center">
      <Spinner label={label} />
    </div>
  );
}

export function ErrorBox({
  error,
  onRetry,
  className = "",
  seatName,
}: {
  error: unknown;
  onRetry?: () => void;
  className?: string;
  /** Names seats the error mentions (`seatNamer(concert)`); by default read from their ids. */
  seatName?: (id: string) => string;
}) {
  const e = describeError(error, seatName ? { seatName } : {});
  // "Try again" only where it can help: no answer, 429, 5xx. A 404 or 409 stays what it is.
  const retry = onRetry && (!isApiError(error) || error.transient || error.status >= 500);
  return (
    <div
      role="alert"
      className={`rounded-lg border border-rose-200 bg-rose-50 p-4 text-sm text-rose-900 ${className}`}
    >
      <p className="font-semibold">{e.title}</p>
      <p className="mt-1">{e.message}</p>
      <Details items={[["Reference", e.requestId]]} className="mt-2 text-rose-900" />
      {retry && (
        <button type="button" className="btn-secondary mt-3" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Reference codes (request, order, hold, payment, ticket) for support, behind a "Details"
 * toggle: nobody needs them to buy a ticket. Nothing when every value is empty. */
export function Details({
  items,
  className = "text-slate-700",
}: {
  items: [label: string, value: string | null | undefined][];
  /** Spacing and text colour (at least 4.5:1 on its background). */
  className?: string;
}) {
  const shown = items.filter((item): item is [string, string] => Boolean(item[1]));
  if (shown.length === 0) return null;
  return (
    <details className={`text-xs ${className}`} data-testid="details">
      <summary className="cursor-pointer select-none font-medium underline-offset-2 hover:underline">
        Details
      </summary>
      <dl className="mt-1 space-y-0.5">
        {shown.map(([label, value]) => (
          <div key={label}>
            <dt className="inline">{label}: </dt>
            <dd className="inline break-all font-mono">{value}</dd>
          </div>
        ))}
      </dl>
    </details>
  );
}

type Tone = "info" | "success" | "warning" | "error";

const TONES: Record<Tone, string> = {
  info: "border-sky-200 bg-sky-50 text-sky-900",
  success: "border-emerald-200 bg-emerald-50 text-emerald-900",
  warning: "border-amber-200 bg-amber-50 text-amber-900",
  error: "border-rose-200 bg-rose-50 text-rose-900",
};

export function Notice({
  tone = "info",
  title,
  children,
  className = "",
}: {
  tone?: Tone;
  title?: ReactNode;
  children?: ReactNode;
  className?: string;
}) {
  return (
    <div
      role={tone === "error" ? "alert" : "status"}
      className={`rounded-lg border p-4 text-sm ${TONES[tone]} ${className}`}
    >
      {title && <p className="font-semibold">{title}</p>}
      {children && <div className={title ? "mt-1" : ""}>{children}</div>}
    </div>
  );
}

const ORDER_BADGES: Record<OrderStatus, [string, string]> = {
  pending_payment: ["Waiting for payment", "bg-amber-100 text-amber-800"],
  confirmed: ["Confirmed", "bg-emerald-100 text-emerald-800"],
  expired: ["Expired", "bg-slate-200 text-slate-700"],
  cancelled: ["Cancelled", "bg-slate-200 text-slate-700"],
  failed: ["Payment failed", "bg-rose-100 text-rose-800"],
  refunded: ["Refunded", "bg-sky-100 text-sky-800"],
};

export function OrderBadge({ status }: { status: OrderStatus }) {
  return <Badge entry={ORDER_BADGES[status]} data-status={status} />;
}

const CONCERT_BADGES: Record<ConcertStatus, [string, string]> = {
  scheduled: ["Coming soon", "bg-sky-100 text-sky-800"],
  on_sale: ["On sale", "bg-emerald-100 text-emerald-800"],
  sold_out: ["Sold out", "bg-rose-100 text-rose-800"],
  ended: ["Ended", "bg-slate-200 text-slate-700"],
  cancelled: ["Cancelled", "bg-rose-200 text-rose-900"],
};

export function ConcertBadge({ status }: { status: ConcertStatus }) {
  return <Badge entry={CONCERT_BADGES[status]} />;
}

/** A status pill: its text and its colours. */
function Badge({
  entry: [text, cls],
  "data-status": dataStatus,
}: {
  entry: [string, string];
  "data-status"?: string;
}) {
  return (
    <span
      className={`rounded-full px-2.5 py-0.5 text-xs font-semibold ${cls}`}
      data-status={dataStatus}
    >
      {text}
    </span>
  );
}

export function Field({
  label,
  error,
  hint,
  children,
  htmlFor,
  className,
}: {
  label: string;
  error?: string | undefined;
  hint?: string;
  htmlFor: string;
  children: ReactNode;
  /** For the wrapper, e.g. a grid span. */
  className?: string;
}) {
  return (
    <div className={className}>
      <label className="label" htmlFor={htmlFor}>
        {label}
      </label>
      {children}
      {hint && !error && <p className="mt-1 text-xs text-slate-500">{hint}</p>}
      {error && (
        <p className="mt-1 text-xs text-rose-700" id={`${htmlFor}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** A labelled `<input class="input">` whose value is a string; `children` follow the input. */
export function InputField({
  label,
  id,
  error,
  hint,
  fieldClassName,
  className = "input",
  value,
  onValue,
  children,
  ...input
}: Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "value" | "onChange" | "children"> & {
  label: string;
  id: string;
  error?: string | undefined;
  hint?: string;
  /** For the wrapper, e.g. a grid span. */
  fieldClassName?: string;
  value: string;
  onValue: (value: string) => void;
  children?: ReactNode;
}) {
  return (
    <Field label={label} htmlFor={id} error={error} hint={hint} className={fieldClassName}>
      <input
        id={id}
        className={className}
        value={value}
        onChange={(e) => onValue(e.target.value)}
        {...input}
      />
      {children}
    </Field>
  );
}

export function LoginRequired({ what, next }: { what: string; next: string }) {
  return (
    <div className="card mx-auto max-w-md text-center">
      <h1 className="text-lg font-semibold">Log in to {what}</h1>
      <p className="mt-2 text-sm text-slate-600">You need an account for this.</p>
      <div className="mt-4 flex justify-center gap-3">
        <Link className="btn-primary" to={`/login?next=${encodeURIComponent(next)}`}>
          Log in
        </Link>
        <Link className="btn-secondary" to={`/signup?next=${encodeURIComponent(next)}`}>
          Sign up
        </Link>
      </div>
    </div>
  );
}

/** A checkbox with its label text after it (`children`). */
export function CheckboxField({
  checked,
  onChecked,
  className,
  inputClassName = "h-4 w-4",
  children,
}: {
  checked: boolean;
  onChecked: (checked: boolean) => void;
  /** For the label. */
  className: string;
  inputClassName?: string;
  children: ReactNode;
}) {
  return (
    <label className={className}>
      <input
        type="checkbox"
        className={inputClassName}
        checked={checked}
        onChange={(e) => onChecked(e.target.checked)}
      />
      {children}
    </label>
  );
}

/** The way back from a concert's page to the list it was found in. */
export function BackLink({ to }: { to: string }) {
  return (
    <Link to={to} className="text-sm text-brand-700 hover:underline">
      ← All concerts
    </Link>
  );
}

/** The genre above a concert's title. */
export function GenreLabel({ genre }: { genre: string }) {
  return (
    <span className="text-xs font-semibold uppercase tracking-wide text-brand-700">{genre}</span>
  );
}

/** What `Loaded` reads of a query (TanStack Query's results, plain or infinite). */
export interface QueryState<T> {
  isPending: boolean;
  isError: boolean;
  error: unknown;
  data: T | undefined;
  refetch: () => unknown;
}

/** What a page shows of a query: a spinner while it loads, the error (with "Try again") when
 * it failed, else `children` with its data. */
export function Loaded<T>({
  query,
  label,
  children,
}: {
  query: QueryState<T>;
  label?: string;
  children: (data: T) => ReactNode;
}) {
  if (query.isPending) return <PageLoading label={label} />;
  if (query.isError) return <ErrorBox error={query.error} onRetry={() => query.refetch()} />;
  return <>{children(query.data as T)}</>;
}

/** A button that runs `mutation`, saying `busyLabel` while it runs (and taking no second
 * click then). */
export function MutationButton({
  mutation,
  className,
  disabled = false,
  busyLabel,
  title,
  children,
}: {
  mutation: { isPending: boolean; mutate: () => void };
  className: string;
  disabled?: boolean;
  busyLabel: string;
  title?: string;
  children: ReactNode;
}) {
  return (
    <button
      type="button"
      className={className}
      disabled={disabled || mutation.isPending}
      onClick={() => mutation.mutate()}
      title={title}
    >
      {mutation.isPending ? busyLabel : children}
    </button>
  );
}
