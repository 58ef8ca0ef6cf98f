// A message for a person for every error the API returns (docs/api.md), in this app's words
// where the context helps, else the service's own `detail` (written for people too).

import { isApiError } from "./client";

export interface ErrorMessage {
  title: string;
  message: string;
  /** Seconds after which a retry makes sense (429, 503). */
  retryAfter: number | null;
  requestId: string | null;
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
  SeatsUnavailable: "Those seats were just taken",
  HoldLimitExceeded: "Ticket limit reached",
  SaleNotOpen: "Not on sale yet",
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
  ConcertConflict: "Conflict",
  InternalError: "Something went wrong",
  InvalidResponse: "Unexpected answer",
};

function seconds(n: number): string {
  return n === 1 ? "1 second" : `${n} seconds`;
}

export function describeError(error: unknown): ErrorMessage {
  if (!isApiError(error)) {
    const message = error instanceof Error ? error.message : String(error);
    return { title: "Something went wrong", message, retryAfter: null, requestId: null };
  }
  const retryAfter = error.retryAfter;
  const title = TITLES[error.code] ?? "Something went wrong";
  let message = error.detail;
  switch (error.code) {
    case "NetworkError":
      message = "Check your connection and try again.";
      break;
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
        ? `Someone else got ${seats.length === 1 ? "seat" : "seats"} ${seats.join(", ")} first. Nothing was held: pick other seats.`
        : "Someone else got there first. Nothing was held: pick other seats.";
      break;
    }
    case "HoldCheckedOut":
      message =
        "You already continued to payment with these seats, so they belong to that order now. Open the order to pay, or cancel it there to give the seats back.";
      break;
    case "HoldNotFound":
      message =
        "Seats are held for a few minutes only, and this hold has ended or was released. Pick seats again.";
      break;
    case "InternalError":
      message = "Something broke on our side. Please retry.";
      break;
    case "ValidationError":
      if (error.fields.length) {
        message = error.fields.map((f) => `${labelOf(f.field)}: ${f.message}`).join("; ");
      }
      break;
    default:
      break;
  }
  return { title, message, retryAfter, requestId: error.requestId };
}

/** `venue.city` -> `city`; `sections.0.rows` -> `section 1 rows`. */
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

/** Field errors of a 422, keyed by field path, for forms. */
export function fieldErrors(error: unknown): Record<string, string> {
  if (!isApiError(error) || error.code !== "ValidationError") return {};
  const out: Record<string, string> = {};
  for (const f of error.fields) out[f.field] = f.message;
  return out;
}
