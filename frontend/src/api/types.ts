// The shapes of the public API v1 (docs/api.md). The app talks to the service through these only.

export type Role = "user" | "admin";

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  /** Whether the address was verified with the mailed link. */
  email_verified?: boolean;
  email_verified_at?: string | null;
}

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  token_type: "bearer";
  expires_in: number;
}

export interface AuthResult extends TokenPair {
  user: User;
}

export type ConcertStatus = "scheduled" | "on_sale" | "sold_out" | "ended" | "cancelled";

export interface Venue {
  name: string;
  city: string;
  /** The venue's IANA time zone ("Europe/Amsterdam"); times are shown in it. */
  time_zone: string;
}

export interface ConcertSummary {
  id: string;
  title: string;
  artist: string;
  genre: string;
  venue: Venue;
  starts_at: string;
  on_sale_at: string;
  status: ConcertStatus;
  currency: string;
  price_range: { min_cents: number; max_cents: number };
  seats_total: number;
  seats_available: number;
}

export interface QueueSettings {
  enabled: boolean;
  admit_per_minute: number;
  max_active: number;
  /** Joining needs a solved proof-of-work challenge (components/AltchaChallenge.tsx). */
  challenge?: boolean;
  challenge_difficulty?: number;
  opens_at?: string | null;
  /** `lottery`: fans register in a window, a draw picks `winners` (pages/LotteryPanel.tsx). */
  mode?: "fifo" | "lottery";
  registration_opens_at?: string | null;
  registration_closes_at?: string | null;
  winners?: number;
}

/** A row of `count` seats numbered from 1; seat ids follow from it (api/layout.ts). */
export interface Row {
  label: string;
  count: number;
}

export interface Section {
  id: string;
  name: string;
  price_cents: number;
  rows: Row[];
}

/** A cancelled concert's winding-up: orders refunded and cancelled so far, out of the total. */
export interface Cancellation {
  started_at: string;
  finished_at: string | null;
  orders_total: number;
  refunded: number;
  cancelled: number;
  failed: number;
}

export interface Concert extends ConcertSummary {
  description: string;
  max_tickets_per_user: number;
  queue: QueueSettings;
  sections: Section[];
  /** Set once an organiser cancelled the concert. */
  cancellation?: Cancellation | null;
}

export interface ConcertPage {
  items: ConcertSummary[];
  next_cursor: string | null;
}

export interface ConcertQuery {
  q?: string;
  city?: string;
  genre?: string;
  date_from?: string;
  date_to?: string;
  limit?: number;
  cursor?: string;
}

export interface SectionCreate {
  name: string;
  price_cents: number;
  rows: number;
  seats_per_row: number;
}

export interface ConcertCreate {
  title: string;
  artist: string;
  genre: string;
  description?: string;
  venue: Venue;
  starts_at: string;
  on_sale_at: string;
  currency: string;
  max_tickets_per_user?: number;
  queue?: QueueSettings;
  sections: SectionCreate[];
}

export type ConcertPatch = Partial<ConcertCreate>;

/** One character per seat: A available, H held, S sold, X not for sale. */
export type SeatStatusChar = "A" | "H" | "S" | "X";

export interface SeatCounts {
  available: number;
  held: number;
  sold: number;
}

export interface SeatMapSnapshot {
  concert_id: string;
  version: number;
  counts: SeatCounts;
  sections: { id: string; rows: { label: string; status: string }[] }[];
}

export interface SeatChange {
  version: number;
  seats: Record<string, string>;
}

export interface WarmResult {
  concert_id: string;
  seats: number;
  warmed_at: string;
}

export type HoldRequest = { seat_ids: string[] } | { quantity: number; section_id?: string };

export interface Hold {
  id: string;
  concert_id: string;
  seat_ids: string[];
  expires_at: string;
  amount_cents: number;
  currency: string;
}

export type OrderStatus =
  | "pending_payment"
  | "confirmed"
  | "expired"
  | "cancelled"
  | "failed"
  | "refunded";

export interface Ticket {
  id: string;
  order_id: string;
  concert_id: string;
  seat_id: string;
  section: string;
  row: string;
  number: number;
  code: string;
  issued_at: string;
  /** When it was first scanned at the door; null before. */
  checked_in_at: string | null;
}

/** A ticket as given away (POST /tickets/{id}/transfer): without its new code, the receiver's. */
export interface TicketTransfer {
  ticket_id: string;
  order_id: string;
  concert_id: string;
  seat_id: string;
  section: string;
  row: string;
  number: number;
  to_email: string;
  to_name: string;
}

export interface Order {
  /** How many of its tickets the buyer gave to someone else (they are not in `tickets`). */
  tickets_given?: number;
  id: string;
  concert_id: string;
  seat_ids: string[];
  amount_cents: number;
  currency: string;
  status: OrderStatus;
  created_at: string;
  expires_at: string;
  payment_intent_id: string | null;
  tickets: Ticket[];
}

export interface Payment {
  provider: "stripe" | "simulated";
  payment_intent_id: string;
  client_secret: string;
  publishable_key?: string | null;
  /** The simulated provider's pay button (null with Stripe). */
  confirm_path?: string | null;
}

export interface CheckoutResult {
  order: Order;
  payment: Payment;
}

export interface QueueStatus {
  state: "waiting" | "admitted" | "closed";
  position: number | null;
  ahead: number | null;
  eta_seconds: number | null;
  poll_after_seconds: number;
  queue_depth?: number;
  draw_at?: string | null;
  pass?: string | null;
  pass_expires_at?: string | null;
}

export interface QueueStats {
  enabled: boolean;
  waiting: number;
  active_shoppers: number;
  admitted_total: number;
  admitted_per_minute: number;
  admit_per_minute: number;
  max_active: number;
}

export interface FieldError {
  field: string;
  message: string;
  type?: string;
}

export interface ErrorBody {
  error: string;
  detail: string;
  fields?: FieldError[];
  unavailable?: string[];
  retry_after_seconds?: number;
  /** The order of a checked-out hold (409 HoldCheckedOut). */
  order_id?: string;
  [extra: string]: unknown;
}

/** 200 of a door scan (`POST /concerts/{id}/check-ins`): admit. */
export interface CheckIn {
  ticket_id: string;
  order_id: string;
  seat_id: string;
  section: string;
  row: string;
  number: number;
  holder_name: string | null;
  checked_in_at: string;
}

/** GET /concerts/{id}/queue/challenge: an ALTCHA v2 challenge, handed to the widget as is. */
export interface AltchaChallenge {
  parameters: {
    algorithm: string;
    nonce: string;
    salt: string;
    cost: number;
    keyLength: number;
    keyPrefix: string;
    keySignature?: string;
    expiresAt?: number;
    data?: Record<string, string>;
  };
  signature: string;
}

export interface EmailVerified {
  email: string;
  email_verified: true;
  email_verified_at: string;
}

export interface VerificationSent {
  email: string;
  valid_hours: number;
}

/** A fan's presale lottery registration (POST /concerts/{id}/registrations, GET .../me). */
export interface Registration {
  status: "registered" | "won" | "lost";
  entry_id: string;
  registered_at: string;
  draw_at: string | null;
  /** Won: the earliest time the waiting room lets them in. */
  enter_at?: string | null;
  position?: number | null;
  /** Lost: their place on the waitlist, offered seats left after `waitlist_from`. */
  waitlist_position?: number | null;
  waitlist_from?: string | null;
  message: string;
}

/** GET /concerts/{id}/lottery: public; the seed and counts once drawn. */
export interface Lottery {
  mode: "lottery";
  state: "upcoming" | "open" | "closed" | "drawn";
  registration_opens_at: string;
  registration_closes_at: string;
  on_sale_at: string;
  winners: number;
  registrations: number;
  seed_sha256: string;
  algorithm: string;
  seed?: string | null;
  drawn_at?: string | null;
  entries?: number | null;
  winners_drawn?: number | null;
  waitlist?: number | null;
  entries_sha256?: string | null;
  order_sha256?: string | null;
  entries_url?: string | null;
  winners_window_ends_at?: string | null;
}
