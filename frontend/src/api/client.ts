// The HTTP client of the public API (docs/api.md): JSON in and out, one error type,
// bearer tokens with silent refresh, Idempotency-Key and X-Queue-Pass headers.

import type {
  AltchaChallenge,
  AuthResult,
  CheckIn,
  CheckoutResult,
  Concert,
  ConcertCreate,
  ConcertPage,
  ConcertPatch,
  ConcertQuery,
  EmailVerified,
  ErrorBody,
  FieldError,
  Hold,
  HoldRequest,
  Lottery,
  Order,
  Payment,
  QueueStats,
  QueueStatus,
  Registration,
  SeatMapSnapshot,
  Ticket,
  TicketTransfer,
  TokenPair,
  User,
  VerificationSent,
  WarmResult,
} from "./types";

export const API_PREFIX = "/api/v1";

/** Every failure the client reports: an error answer of the API, or no answer at all. */
export class ApiError extends Error {
  /** HTTP status; 0 when the service could not be reached. */
  readonly status: number;
  /** The contract's error name (`SeatsUnavailable`, ...), or `NetworkError`. */
  readonly code: string;
  readonly detail: string;
  readonly body: ErrorBody | null;
  /** Seconds to wait before retrying (429, 503), from Retry-After. */
  readonly retryAfter: number | null;
  readonly requestId: string | null;

  constructor(
    status: number,
    body: ErrorBody | null,
    opts: { retryAfter?: number | null; requestId?: string | null; message?: string } = {},
  ) {
    super(opts.message ?? body?.detail ?? `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = body?.error ?? (status === 0 ? "NetworkError" : `HTTP${status}`);
    this.detail = body?.detail ?? this.message;
    this.body = body;
    this.retryAfter = opts.retryAfter ?? body?.retry_after_seconds ?? null;
    this.requestId = opts.requestId ?? null;
  }

  get fields(): FieldError[] {
    return this.body?.fields ?? [];
  }

  /** Seats named by a 409 SeatsUnavailable. */
  get unavailable(): string[] {
    return this.body?.unavailable ?? [];
  }

  /** Worth retrying as is: nothing answered, too many requests, or a dependency is down. */
  get transient(): boolean {
    return this.status === 0 || this.status === 429 || this.status === 503 || this.status === 502;
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/** What the browser keeps of a login. */
export interface Session {
  accessToken: string;
  refreshToken: string;
  /** Epoch milliseconds when the access token stops working. */
  accessExpiresAt: number;
  user: User | null;
}

export interface SessionStore {
  load(): Session | null;
  save(session: Session | null): void;
}

export function memorySessionStore(initial: Session | null = null): SessionStore {
  let current = initial;
  return {
    load: () => current,
    save: (s) => {
      current = s;
    },
  };
}

/** Runs `fn` while holding a lock shared by every tab (Web Locks), so that two tabs never
 * spend the same refresh token: the service revokes the whole login when one is replayed. */
export type LockRunner = <T>(name: string, fn: () => Promise<T>) => Promise<T>;

const noLock: LockRunner = (_name, fn) => fn();

export interface RequestOptions {
  body?: unknown;
  query?: Record<string, string | number | undefined | null>;
  /** `required`: send the token and refresh it as needed; `none`: anonymous. */
  auth?: "required" | "none";
  idempotencyKey?: string;
  queuePass?: string | null;
  signal?: AbortSignal;
  /** `blob`: a file (a PDF, a CSV) instead of JSON. */
  as?: "json" | "blob";
}

/** The options of a purchase step (a hold, a checkout). */
export interface PurchaseOptions {
  idempotencyKey?: string;
  queuePass?: string | null;
}

export interface ClientOptions {
  baseUrl?: string;
  fetch?: typeof fetch;
  store?: SessionStore;
  now?: () => number;
  lock?: LockRunner;
  /** Called when the login ended (refresh refused): the UI asks to log in again. */
  onSessionEnd?: (reason: string) => void;
  /** Called whenever tokens or the user change. */
  onSessionChange?: (session: Session | null) => void;
}

/** Refresh this long before the access token expires, so a request never carries a token
 * that dies on its way. */
const REFRESH_MARGIN_MS = 30_000;

/** Logging out waits this long for the service, then forgets the tokens anyway. */
const LOGOUT_TIMEOUT_MS = 5_000;

export function buildQuery(query: RequestOptions["query"]): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

function parseRetryAfter(value: string | null): number | null {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, Math.round((at - Date.now()) / 1000));
}

/** A random id for Idempotency-Key. crypto.randomUUID needs a secure context (plain http on
 * a LAN address is not one): fall back to getRandomValues, and to Math.random where there is
 * no Web Crypto at all (Node 18 in tests). The key needs uniqueness, not secrecy. */
export function newIdempotencyKey(): string {
  const c: Crypto | undefined = globalThis.crypto;
  if (typeof c?.randomUUID === "function") return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (typeof c?.getRandomValues === "function") c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class ApiClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly store: SessionStore;
  private readonly now: () => number;
  private readonly lock: LockRunner;
  private readonly onSessionEnd: (reason: string) => void;
  private readonly onSessionChange: (session: Session | null) => void;
  private refreshing: Promise<Session | null> | null = null;

  constructor(opts: ClientOptions = {}) {
    this.baseUrl = opts.baseUrl ?? "";
    this.fetchImpl = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.store = opts.store ?? memorySessionStore();
    this.now = opts.now ?? Date.now;
    this.lock = opts.lock ?? noLock;
    this.onSessionEnd = opts.onSessionEnd ?? (() => {});
    this.onSessionChange = opts.onSessionChange ?? (() => {});
  }

  get session(): Session | null {
    return this.store.load();
  }

  private setSession(session: Session | null): void {
    this.store.save(session);
    this.onSessionChange(session);
  }

  private sessionFrom(pair: TokenPair, user: User | null): Session {
    return {
      accessToken: pair.access_token,
      refreshToken: pair.refresh_token,
      accessExpiresAt: this.now() + pair.expires_in * 1000,
      user,
    };
  }

  // --- transport ------------------------------------------------------------------------

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const auth = opts.auth ?? "none";
    let session: Session | null = null;
    if (auth === "required") {
      session = await this.freshSession();
      if (!session) {
        throw new ApiError(401, {
          error: "NotAuthenticated",
          detail: "Log in first to do this.",
        });
      }
    }
    try {
      return await this.send<T>(method, path, opts, session);
    } catch (e) {
      // An access token can die early (a key rotation, a clock skew): refresh once and retry.
      if (auth === "required" && isApiError(e) && e.status === 401 && session) {
        const renewed = await this.refresh(session);
        if (!renewed) throw e;
        return this.send<T>(method, path, opts, renewed);
      }
      throw e;
    }
  }

  private async send<T>(
    method: string,
    path: string,
    opts: RequestOptions,
    session: Session | null,
  ): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    if (session) headers.Authorization = `Bearer ${session.accessToken}`;
    if (opts.idempotencyKey) headers["Idempotency-Key"] = opts.idempotencyKey;
    if (opts.queuePass) headers["X-Queue-Pass"] = opts.queuePass;
    const url = `${this.baseUrl}${API_PREFIX}${path}${buildQuery(opts.query)}`;
    let response: Response;
    try {
      const init: RequestInit = { method, headers, credentials: "same-origin" };
      if (body !== undefined) init.body = body;
      if (opts.signal) init.signal = opts.signal;
      response = await this.fetchImpl(url, init);
    } catch (e) {
      if (e instanceof DOMException && e.name === "AbortError") throw e;
      throw new ApiError(
        0,
        {
          error: "NetworkError",
          detail: "Can't reach the service. Check your connection and try again.",
        },
        { message: "network error" },
      );
    }
    if (response.status === 204) return undefined as T;
    if (response.ok && opts.as === "blob") return (await response.blob()) as T;
    const text = await response.text();
    let parsed: unknown = null;
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = null;
      }
    }
    if (response.ok) {
      if (parsed === null && text) {
        throw new ApiError(response.status, {
          error: "InvalidResponse",
          detail: "The service sent an answer this app can't read. Please retry.",
        });
      }
      return parsed as T;
    }
    const errorBody =
      parsed && typeof parsed === "object" && "error" in parsed
        ? (parsed as ErrorBody)
        : fallbackError(response.status);
    throw new ApiError(response.status, errorBody, {
      retryAfter: parseRetryAfter(response.headers.get("Retry-After")),
      requestId: response.headers.get("X-Request-ID"),
    });
  }

  // --- tokens ---------------------------------------------------------------------------

  /** The current session with an access token that is good for a while, refreshing first
   * when it is about to expire. */
  async freshSession(): Promise<Session | null> {
    const session = this.store.load();
    if (!session) return null;
    if (session.accessExpiresAt - REFRESH_MARGIN_MS > this.now()) return session;
    return this.refresh(session);
  }

  /** Trade the refresh token for a new pair; one refresh at a time per page, and per
   * browser when a lock runner is given. `null` (and the session ends) when refused. */
  refresh(stale: Session): Promise<Session | null> {
    if (!this.refreshing) {
      this.refreshing = this.lock("encore-refresh", () => this.doRefresh(stale)).finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(stale: Session): Promise<Session | null> {
    // Another tab may have refreshed while we waited for the lock: use its tokens.
    const current = this.store.load();
    if (!current) return null;
    if (
      current.refreshToken !== stale.refreshToken &&
      current.accessExpiresAt - REFRESH_MARGIN_MS > this.now()
    ) {
      return current;
    }
    try {
      const pair = await this.send<TokenPair>(
        "POST",
        "/auth/refresh",
        { body: { refresh_token: current.refreshToken } },
        null,
      );
      const next = this.sessionFrom(pair, current.user);
      this.setSession(next);
      return next;
    } catch (e) {
      if (isApiError(e) && (e.status === 401 || e.status === 422)) {
        this.setSession(null);
        this.onSessionEnd("Your session has ended. Please log in again.");
        return null;
      }
      throw e;
    }
  }

  // --- accounts -------------------------------------------------------------------------

  async signup(email: string, password: string, name: string): Promise<User> {
    const r = await this.request<AuthResult>("POST", "/auth/signup", {
      body: { email, password, name },
    });
    this.setSession(this.sessionFrom(r, r.user));
    return r.user;
  }

  async login(email: string, password: string): Promise<User> {
    const r = await this.request<AuthResult>("POST", "/auth/login", { body: { email, password } });
    this.setSession(this.sessionFrom(r, r.user));
    return r.user;
  }

  /** Log out: the service ends this login (every refresh token of it, on every tab and
   * device that shares it), then the tokens are forgotten here, also when the service could
   * not be told (offline, a token it no longer knows). Access tokens the service already
   * issued stay valid until they expire (15 minutes); none is kept here. */
  async logout(): Promise<void> {
    const session = this.store.load();
    try {
      if (session) {
        const signal =
          typeof AbortSignal.timeout === "function"
            ? AbortSignal.timeout(LOGOUT_TIMEOUT_MS)
            : undefined;
        await this.send<void>(
          "POST",
          "/auth/logout",
          { body: { refresh_token: session.refreshToken }, ...(signal ? { signal } : {}) },
          null,
        );
      }
    } catch {
      // Logged out here all the same: the refresh token is gone from this browser.
    } finally {
      this.setSession(null);
    }
  }

  /** Change the password. The service ends every login of the account, this one too, so
   * this logs in again with the new password: the user it answers, or `null` when that
   * login failed and the user must log in again (the session is then cleared). A wrong
   * current password is an ApiError `InvalidCredentials`, and nothing changed. */
  async changePassword(currentPassword: string, newPassword: string): Promise<User | null> {
    const session = await this.freshSession();
    if (!session) {
      throw new ApiError(401, { error: "NotAuthenticated", detail: "Log in first to do this." });
    }
    // Not `request`: its refresh-and-retry on a 401 would send a wrong password twice.
    await this.send<void>(
      "POST",
      "/auth/password",
      { body: { current_password: currentPassword, new_password: newPassword } },
      session,
    );
    const email = session.user?.email;
    try {
      if (email) return await this.login(email, newPassword);
    } catch {
      // The password did change; only the new login failed.
    }
    this.setSession(null);
    return null;
  }

  /** Verify the account's address with the token of the mailed link (no login needed). */
  verifyEmail(token: string): Promise<EmailVerified> {
    return this.request("POST", "/auth/verify-email", { auth: "none", body: { token } });
  }

  /** Mail a new verification link to the logged-in account's address. */
  resendVerification(): Promise<VerificationSent> {
    return this.request("POST", "/auth/verify-email/resend", { auth: "required" });
  }

  async me(): Promise<User> {
    const user = await this.request<User>("GET", "/auth/me", { auth: "required" });
    const session = this.store.load();
    if (session) this.setSession({ ...session, user });
    return user;
  }

  // --- concerts -------------------------------------------------------------------------

  listConcerts(query: ConcertQuery, signal?: AbortSignal): Promise<ConcertPage> {
    return this.request("GET", "/concerts", { query: { ...query }, ...(signal ? { signal } : {}) });
  }

  getConcert(id: string): Promise<Concert> {
    return this.request("GET", `/concerts/${encodeURIComponent(id)}`);
  }

  createConcert(body: ConcertCreate): Promise<Concert> {
    return this.request("POST", "/concerts", { body, auth: "required" });
  }

  patchConcert(id: string, body: ConcertPatch): Promise<Concert> {
    return this.request("PATCH", `/concerts/${encodeURIComponent(id)}`, { body, auth: "required" });
  }

  cancelConcert(id: string): Promise<Concert> {
    return this.request("POST", `/concerts/${encodeURIComponent(id)}/cancel`, { auth: "required" });
  }

  warmConcert(id: string): Promise<WarmResult> {
    return this.request("POST", `/concerts/${encodeURIComponent(id)}/warm`, { auth: "required" });
  }

  seatMap(id: string): Promise<SeatMapSnapshot> {
    return this.request("GET", `/concerts/${encodeURIComponent(id)}/seats`);
  }

  /** The URL of the live seat stream (Server-Sent Events). */
  seatStreamUrl(id: string): string {
    return `${this.baseUrl}${API_PREFIX}/concerts/${encodeURIComponent(id)}/seats/stream`;
  }

  // --- holds, checkout, orders ----------------------------------------------------------

  createHold(concertId: string, body: HoldRequest, opts: PurchaseOptions = {}): Promise<Hold> {
    return this.request("POST", `/concerts/${encodeURIComponent(concertId)}/holds`, {
      body,
      ...purchase(opts),
    });
  }

  getHold(holdId: string): Promise<Hold> {
    return this.request("GET", `/holds/${encodeURIComponent(holdId)}`, { auth: "required" });
  }

  releaseHold(holdId: string): Promise<void> {
    return this.request("DELETE", `/holds/${encodeURIComponent(holdId)}`, { auth: "required" });
  }

  checkout(holdId: string, opts: PurchaseOptions = {}): Promise<CheckoutResult> {
    return this.request("POST", "/checkout", { body: { hold_id: holdId }, ...purchase(opts) });
  }

  /** The tickets of a confirmed order as a PDF (one page per ticket, its QR code). */
  ticketsPdf(orderId: string): Promise<Blob> {
    return this.request("GET", `/orders/${encodeURIComponent(orderId)}/tickets.pdf`, {
      auth: "required",
      as: "blob",
    });
  }

  /** The show of a confirmed order as an .ics file to add to a calendar. */
  orderCalendar(orderId: string): Promise<Blob> {
    return this.request("GET", `/orders/${encodeURIComponent(orderId)}/calendar.ics`, {
      auth: "required",
      as: "blob",
    });
  }

  /** A concert's sales as CSV, one row per ticket (organisers). */
  salesReport(concertId: string): Promise<Blob> {
    return this.request("GET", `/concerts/${encodeURIComponent(concertId)}/report.csv`, {
      auth: "required",
      as: "blob",
    });
  }

  /** Scan a ticket at the door (organisers): 200 admit; 409 AlreadyCheckedIn / TicketRevoked
   * and 422 InvalidTicket are ApiErrors whose body says when or why (docs/door.md). */
  checkIn(concertId: string, code: string): Promise<CheckIn> {
    return this.request("POST", `/concerts/${encodeURIComponent(concertId)}/check-ins`, {
      body: { code },
      auth: "required",
    });
  }

  getOrder(orderId: string): Promise<Order> {
    return this.request("GET", `/orders/${encodeURIComponent(orderId)}`, { auth: "required" });
  }

  /** What is needed to pay a pending order from this tab or device (409 OrderNotPayable once
   * there is nothing left to pay). */
  orderPayment(orderId: string): Promise<Payment> {
    return this.request("GET", `/orders/${encodeURIComponent(orderId)}/payment`, {
      auth: "required",
    });
  }

  cancelOrder(orderId: string): Promise<Order> {
    return this.request("POST", `/orders/${encodeURIComponent(orderId)}/cancel`, {
      auth: "required",
    });
  }

  confirmSimulatedPayment(intentId: string, outcome: "succeeded" | "failed"): Promise<unknown> {
    return this.request("POST", `/payments/simulated/${encodeURIComponent(intentId)}/confirm`, {
      body: { outcome },
      auth: "required",
    });
  }

  myOrders(): Promise<{ items: Order[] }> {
    return this.request("GET", "/me/orders", { auth: "required" });
  }

  myTickets(): Promise<{ items: Ticket[] }> {
    return this.request("GET", "/me/tickets", { auth: "required" });
  }

  /** Give one of your tickets to the account with this address: it is signed again for them,
   * and its old code no longer admits. One key per attempt, so a retry can't give it twice. */
  transferTicket(ticketId: string, email: string, idempotencyKey: string): Promise<TicketTransfer> {
    return this.request("POST", `/tickets/${encodeURIComponent(ticketId)}/transfer`, {
      body: { email },
      auth: "required",
      idempotencyKey,
    });
  }

  // --- waiting room ---------------------------------------------------------------------

  /** Join the waiting room; `altcha`: the solved challenge when the queue asks for one. */
  joinQueue(concertId: string, altcha?: string | null): Promise<QueueStatus> {
    return this.request("POST", `/concerts/${encodeURIComponent(concertId)}/queue`, {
      auth: "required",
      body: altcha ? { altcha } : undefined,
    });
  }

  /** A proof-of-work challenge for this concert's waiting room (no login needed). */
  queueChallenge(concertId: string, signal?: AbortSignal): Promise<AltchaChallenge> {
    return this.request("GET", `/concerts/${encodeURIComponent(concertId)}/queue/challenge`, {
      auth: "none",
      signal,
    });
  }

  queueStatus(concertId: string): Promise<QueueStatus> {
    return this.request("GET", `/concerts/${encodeURIComponent(concertId)}/queue`, {
      auth: "required",
    });
  }

  queueStats(concertId: string): Promise<QueueStats> {
    return this.request("GET", `/concerts/${encodeURIComponent(concertId)}/queue/stats`, {
      auth: "required",
    });
  }

  // --- presale lottery ------------------------------------------------------------------

  /** Register for the concert's lottery (again: the same registration); `altcha` when the
   * queue asks for a proof-of-work check. */
  registerForLottery(concertId: string, altcha?: string | null): Promise<Registration> {
    return this.request("POST", `/concerts/${encodeURIComponent(concertId)}/registrations`, {
      auth: "required",
      body: altcha ? { altcha } : undefined,
    });
  }

  /** The caller's registration; ApiError `NotRegistered` (404) when there is none. */
  myRegistration(concertId: string): Promise<Registration> {
    return this.request("GET", `/concerts/${encodeURIComponent(concertId)}/registrations/me`, {
      auth: "required",
    });
  }

  /** The lottery as anyone may see it: window, commitment, and the draw once done. */
  lottery(concertId: string): Promise<Lottery> {
    return this.request("GET", `/concerts/${encodeURIComponent(concertId)}/lottery`, {
      auth: "none",
    });
  }
}

/** What a hold or a checkout sends besides its body: the login, an idempotency key (the
 * caller's, to retry the same purchase, or a new one) and the waiting room's pass if any. */
function purchase(opts: PurchaseOptions): RequestOptions {
  return {
    auth: "required",
    idempotencyKey: opts.idempotencyKey ?? newIdempotencyKey(),
    queuePass: opts.queuePass ?? null,
  };
}

function fallbackError(status: number): ErrorBody {
  if (status === 429) return { error: "RateLimited", detail: "Too many requests." };
  if (status === 502 || status === 503 || status === 504) {
    return { error: "ServiceUnavailable", detail: "The service is unavailable right now." };
  }
  if (status === 404) return { error: "NotFound", detail: "Not found." };
  return { error: `HTTP${status}`, detail: `The service answered with an error (${status}).` };
}
