// A message for a person for every error the API returns (docs/api.md), in this app's words:
// no validation jargon ("String should have at least 1 character"), no field names
// (`on_sale_at`), no seat ids (`floor-I-14`), no headers or paths. The service's own `detail`
// is shown only for an error this app does not know. Reference codes (the request id) go to
// `requestId`, which the UI keeps behind a "Details" toggle.

import { isApiError } from "./client";
import { seatName, seatNames } from "./seatNames";
import type { FieldError } from "./types";

export interface ErrorMessage {
  title: string;
  message: string;
  /** Seconds after which a retry makes sense (429, 503). */
  retryAfter: number | null;
  requestId: string | null;
}

/** How the message names seats: by default read from their ids; pass the concert's layout
 * (`seatNamer(concert)`) for its section names. */
export interface DescribeOptions {
  seatName?: (id: string) => string;
}

const TITLES: Record<string, string> = {
  NetworkError: "Can't reach the service",
  NotAuthenticated: "Please log in",
  InvalidCredentials: "Wrong email or password",
  EmailTaken: "That email already has an account",
  Forbidden: "Not allowed",
  ValidationError: "Please check the form",
  ConcertNotFound: "Concert not found",
  HoldNotFound: "Your hold has ended",
  HoldCheckedOut: "These seats are in an order",
  OrderNotFound: "Order not found",
  OrderNotPayable: "This order can't be paid any more",
  NotFound: "Not found",
  SeatsUnavailable: "Those seats were just taken",
  HoldLimitExceeded: "Ticket limit reached",
  SaleNotOpen: "Not on sale now",
  UnknownSeats: "Unknown seats",
  QueuePassRequired: "Waiting room pass needed",
  QueueNotEnabled: "No waiting room",
  QueueNotJoined: "Not in the waiting room",
  QueueNotOpen: "The waiting room is not open yet",
  InvalidOrderTransition: "That can't be done with this order",
  IdempotencyKeyReused: "Request conflict",
  IdempotencyKeyInFlight: "Still working on it",
  RateLimited: "Too many requests",
  ServiceUnavailable: "Temporarily unavailable",
  LayoutLocked: "Layout locked",
  ConcertConflict: "Changed meanwhile",
  PaymentIntentNotFound: "Payment not found",
  PaymentIntentNotConfirmable: "This payment was cancelled",
  PaymentProviderError: "Payments are not set up right",
  PayloadTooLarge: "Too much at once",
  InternalError: "Something went wrong",
  InvalidResponse: "Unexpected answer",
};

/** This app's words for errors whose `detail` speaks to programs (headers, paths, ids). */
const MESSAGES: Record<string, string> = {
  NotAuthenticated: "Log in to do this. If you were logged in, your login has ended.",
  Forbidden: "Your account can't do this. Organiser pages need an organiser account.",
  ConcertNotFound: "This concert does not exist, or it was removed. Check the address.",
  OrderNotFound: "This order does not exist, or it belongs to another account.",
  NotFound: "There is nothing here. Check the address.",
  QueuePassRequired:
    "This on-sale has a waiting room: join it, and you come back here to pick seats when it's your turn.",
  QueueNotJoined: "You are not in this waiting room yet. Join it to get a place in line.",
  InvalidOrderTransition: "This order has moved on meanwhile. Reload the page to see where it is.",
  IdempotencyKeyReused: "This request clashed with an earlier one. Reload the page and try again.",
  IdempotencyKeyInFlight: "Your previous try is still being processed. Wait a moment.",
  PaymentIntentNotFound: "This payment does not exist, or it belongs to another account.",
  PaymentProviderError:
    "The payment provider refused this service's request. Nothing was charged. Please tell the organiser.",
  PayloadTooLarge: "That is more than the service takes at once. Make it shorter.",
  InternalError: "Something broke on our side. Please retry.",
  NetworkError: "Check your connection and try again.",
  HoldCheckedOut:
    "You already continued to payment with these seats, so they belong to that order now. Open the order to pay, or cancel it there to give the seats back.",
  HoldNotFound:
    "Seats are held for a few minutes only, and this hold has ended or was released. Pick seats again.",
};

function seconds(n: number): string {
  return n === 1 ? "1 second" : `${n} seconds`;
}

function plainDateTime(iso: unknown): string | null {
  if (typeof iso !== "string") return null;
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return null;
  return t.toLocaleString(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function describeError(error: unknown, opts: DescribeOptions = {}): ErrorMessage {
  if (!isApiError(error)) {
    // A fault of this page (not an answer of the service): its text means nothing to a buyer.
    return {
      title: "Something went wrong",
      message: "Something unexpected happened on this page. Reload it and try again.",
      retryAfter: null,
      requestId: null,
    };
  }
  const name = opts.seatName ?? ((id: string) => seatName(id));
  const retryAfter = error.retryAfter;
  const title = TITLES[error.code] ?? "Something went wrong";
  let message = MESSAGES[error.code] ?? error.detail;
  const body = error.body ?? { error: error.code, detail: error.detail };
  switch (error.code) {
    case "RateLimited":
      message =
        retryAfter !== null
          ? `You're going a bit fast. Try again in ${seconds(retryAfter)}.`
          : "You're going a bit fast. Try again in a moment.";
      break;
    case "ServiceUnavailable":
      message =
        retryAfter !== null
          ? `Part of the service is not answering right now. Try again in ${seconds(retryAfter)}.`
          : "Part of the service is not answering right now. Try again shortly.";
      break;
    case "SeatsUnavailable": {
      const seats = error.unavailable;
      message = seats.length
        ? `Someone else got ${seats.length === 1 ? "this seat" : "these seats"} first: ${seatNames(seats, name)}. Nothing was held: pick other seats.`
        : // Best available: not enough seats left (in that section).
          "Not enough seats are left for that. Nothing was held: try fewer seats or another section.";
      break;
    }
    case "UnknownSeats": {
      const unknown = Array.isArray(body.unknown) ? (body.unknown as string[]) : [];
      message = unknown.length
        ? `${seatNames(unknown, name)}: not in this concert's seat map any more. Reload the page and pick again.`
        : "Some of these seats are not in this concert's seat map any more. Reload the page and pick again.";
      break;
    }
    case "HoldLimitExceeded": {
      const limit = typeof body.limit === "number" ? body.limit : null;
      const already = typeof body.already === "number" ? body.already : null;
      message =
        limit === null
          ? "That would take you past this concert's ticket limit per buyer."
          : `This concert sells at most ${limit} tickets per buyer${already ? `, and you already have ${already} (held, waiting for payment or bought)` : ""}. Pick fewer seats.`;
      break;
    }
    case "SaleNotOpen": {
      const at = plainDateTime(body.on_sale_at);
      message = at
        ? `Tickets go on sale ${at}. Try again then.`
        : "Tickets for this concert are not on sale now.";
      break;
    }
    case "ValidationError":
      message = error.fields.length
        ? [...new Set(error.fields.map(fieldMessage))].join(" ")
        : "Something in the form is not right. Check it and try again.";
      break;
    default:
      if (/^HTTP\d+$/.test(error.code)) {
        message = "The service answered with an error. Please try again.";
      }
      break;
  }
  return { title, message, retryAfter, requestId: error.requestId };
}

// --- 422: a sentence per field -------------------------------------------------------------

/** What each field is, in words ("{n}": the section's number). Keys are the API's field paths
 * with list indices as `*`. */
const WHAT: Record<string, string> = {
  email: "your email address",
  password: "your password",
  current_password: "your current password",
  new_password: "your new password",
  name: "your name",
  title: "the title",
  artist: "the artist",
  genre: "the genre",
  description: "the description",
  "venue.name": "the venue",
  "venue.city": "the city",
  starts_at: "when the concert starts",
  on_sale_at: "when the sale opens",
  currency: "the currency",
  max_tickets_per_user: "tickets per buyer",
  queue: "the waiting room",
  "queue.admit_per_minute": "buyers let in per minute",
  "queue.max_active": "buyers shopping at once",
  "queue.opens_at": "when the line opens",
  sections: "the sections",
  "sections.*.name": "the name of section {n}",
  "sections.*.price_cents": "the price of section {n}",
  "sections.*.rows": "the rows of section {n}",
  "sections.*.seats_per_row": "the seats per row of section {n}",
  date_from: "the From date",
  date_to: "the To date",
  q: "the search",
  city: "the city",
  cursor: "the list's position",
  quantity: "the number of seats",
  section_id: "the section",
  seat_ids: "the seats",
  hold_id: "the hold",
};

/** Fields that are times, and passwords being chosen. */
const TIMES = new Set(["starts_at", "on_sale_at", "queue.opens_at", "date_from", "date_to"]);
const NEW_PASSWORDS = new Set(["new_password"]);

/** `sections.1.rows` -> { key: "sections.*.rows", n: 2 } */
function pathOf(field: string): { key: string; n: number | null } {
  let n: number | null = null;
  const key = field
    .split(".")
    .map((p) => {
      if (/^\d+$/.test(p)) {
        n ??= Number(p) + 1;
        return "*";
      }
      return p;
    })
    .join(".");
  return { key, n };
}

/** The field in words: "the price of section 2"; a field this app does not know, by its label. */
export function fieldWords(field: string): string {
  const { key, n } = pathOf(field);
  const what = WHAT[key];
  if (what) return what.replace("{n}", String(n ?? ""));
  return labelOf(field);
}

/** The number a pydantic message names ("at least 8 characters" -> 8), or null. */
function limitIn(message: string): number | null {
  const m = /(-?\d[\d,_]*(?:\.\d+)?)/.exec(message);
  return m ? Number((m[1] as string).replace(/[,_]/g, "")) : null;
}

/** The API's own field names inside a message, replaced by words. */
function plain(message: string): string {
  let out = message.replace(/^Value error, /, "").replace(/^Assertion failed, /, "");
  out = out.replace(/\b[a-z]+(?:_[a-z]+)+\b/g, (word) => WHAT[word] ?? word.replace(/_/g, " "));
  out = out.charAt(0).toUpperCase() + out.slice(1);
  return /[.!?]$/.test(out) ? out : `${out}.`;
}

function capitalised(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** What a person should do about one field's error, as a sentence: "Enter your email address.",
 * "Choose a password of at least 8 characters.", "Use 1 or more for tickets per buyer." */
export function fieldMessage(f: FieldError): string {
  const { key } = pathOf(f.field);
  const what = fieldWords(f.field);
  const type = f.type ?? "";
  const message = f.message ?? "";
  const cents = key.endsWith("_cents");
  const rawLimit = limitIn(message);
  const limit = rawLimit !== null && cents ? rawLimit / 100 : rawLimit;
  const amount = limit === null ? "" : limit.toLocaleString();

  // A rule across fields (the body as a whole).
  if (key === "body" || key === "") {
    if (/on_sale_at must be before starts_at/.test(message)) {
      return "The sale must open before the concert starts.";
    }
    if (/at most [\d,]+ seats/.test(message)) {
      return `A concert has at most ${(rawLimit ?? 100_000).toLocaleString()} seats: make the sections smaller.`;
    }
    if (type === "json_invalid" || type === "model_attributes_type" || type === "dict_type") {
      return "This page sent something the service could not read. Reload the page and try again.";
    }
    return plain(message);
  }
  if (type === "extra_forbidden") {
    return "This page sent something the service does not take. Reload the page and try again.";
  }
  if (key === "email" && (type === "value_error" || type === "string_pattern_mismatch")) {
    return "Enter an email address like name@example.com.";
  }
  if (TIMES.has(key)) {
    if (/1970 and 2999/.test(message)) return `Choose a date between 1970 and 2999 for ${what}.`;
    const ordering = /must (not )?be (before|after)/.test(message);
    if (type !== "missing" && !ordering) return `Enter a date and time for ${what}.`;
  }
  switch (type) {
    case "missing":
      return `Enter ${what}.`;
    case "string_too_short":
      if (limit === null || limit <= 1) return `Enter ${what}.`;
      if (key === "password" || NEW_PASSWORDS.has(key)) {
        return `Choose a password of at least ${amount} characters.`;
      }
      return `Use at least ${amount} characters for ${what}.`;
    case "string_too_long":
      return `Use at most ${amount} characters for ${what}.`;
    case "too_short":
      return key === "sections"
        ? "Add at least one section."
        : `Add at least ${amount} to ${what}.`;
    case "too_long":
      return key === "sections"
        ? `Use at most ${amount} sections.`
        : `Use at most ${amount} for ${what}.`;
    case "greater_than_equal":
      return `Use ${amount} or more for ${what}.`;
    case "greater_than":
      return `Use more than ${amount} for ${what}.`;
    case "less_than_equal":
      return `Use ${amount} or less for ${what}.`;
    case "less_than":
      return `Use less than ${amount} for ${what}.`;
    case "int_type":
    case "int_parsing":
    case "int_from_float":
      return `Enter a whole number for ${what}.`;
    case "float_type":
    case "float_parsing":
      return `Enter a number for ${what}.`;
    case "bool_type":
    case "bool_parsing":
      return `Choose yes or no for ${what}.`;
    case "string_type":
      return `Enter ${what} as text.`;
    case "string_pattern_mismatch":
      if (key === "currency") return "Use a three-letter currency code, such as EUR.";
      return `Check ${what}: it is not in the expected form.`;
    case "value_error":
      // The service's own rules (ValidationError(field, message)): written for people, with
      // field names put in words.
      if (message.includes(key.split(".").pop() ?? key)) return plain(message);
      return `${capitalised(what)}: ${plain(message).replace(/^./, (c) => c.toLowerCase())}`;
    default:
      return `Check ${what}.`;
  }
}

/** `venue.city` -> `venue city`; `sections.0.rows` -> `section 1 rows`. */
export function labelOf(field: string): string {
  const parts = field.split(".");
  const out: string[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] ?? "";
    const next = parts[i + 1];
    if (next !== undefined && /^\d+$/.test(next)) {
      out.push(`${p.replace(/s$/, "")} ${Number(next) + 1}`);
      i++;
    } else {
      out.push(p.replace(/_/g, " "));
    }
  }
  return out.join(" ");
}

/** Field errors of a 422, keyed by the API's field path, as sentences for forms. */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!isApiError(error) || error.code !== "ValidationError") return {};
  const out: Record<string, string> = {};
  for (const f of error.fields) out[f.field] ??= fieldMessage(f);
  return out;
}

/** Whether every field error of `error` is shown next to one of `shown` (the form's inputs):
 * if not, the form shows the whole error too, so nothing goes unsaid. */
export function allFieldsShown(error: unknown, shown: readonly string[]): boolean {
  const fields = Object.keys(fieldErrors(error));
  return fields.length > 0 && fields.every((f) => shown.includes(f));
}
