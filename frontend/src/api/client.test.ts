import { describe, expect, it } from "vitest";
import {
  ApiClient,
  ApiError,
  buildQuery,
  memorySessionStore,
  type Session,
  type SessionStore,
} from "./client";
import { describeError, fieldErrors, labelOf } from "./errors";

interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
}

type Handler = (call: Call) => Response | Promise<Response>;

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json", ...headers },
  });
}

function fakeFetch(handler: Handler) {
  const calls: Call[] = [];
  const impl = (async (input: RequestInfo | URL, init?: RequestInit) => {
    const call: Call = {
      url: String(input),
      method: init?.method ?? "GET",
      headers: (init?.headers ?? {}) as Record<string, string>,
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
    };
    calls.push(call);
    return handler(call);
  }) as typeof fetch;
  return { impl, calls };
}

const user = { id: "u1", email: "fan@example.com", name: "Fan", role: "user" as const };

function session(overrides: Partial<Session> = {}): Session {
  return {
    accessToken: "access-1",
    refreshToken: "refresh-1",
    accessExpiresAt: 1_000_000 + 900_000,
    user,
    ...overrides,
  };
}

/** A client at time `now` that records each change of its session in `changes`. */
function watchedClient(impl: typeof fetch, store: SessionStore, now: number) {
  const changes: (Session | null)[] = [];
  const client = new ApiClient({
    fetch: impl,
    store,
    now: () => now,
    onSessionChange: (s) => changes.push(s),
  });
  return { client, changes };
}

describe("requests", () => {
  it("builds query strings without empty values", () => {
    expect(buildQuery({ q: "rock", city: "", genre: undefined, limit: 12 })).toBe(
      "?q=rock&limit=12",
    );
    expect(buildQuery({})).toBe("");
  });

  it("sends JSON, the bearer token, Idempotency-Key and X-Queue-Pass", async () => {
    const { impl, calls } = fakeFetch(() =>
      json(201, {
        id: "h1",
        concert_id: "c1",
        seat_ids: ["floor-A-1"],
        expires_at: "2030-01-01T00:00:00Z",
        amount_cents: 5500,
        currency: "EUR",
      }),
    );
    const client = new ApiClient({
      fetch: impl,
      store: memorySessionStore(session()),
      now: () => 1_000_000,
    });
    const hold = await client.createHold(
      "c1",
      { seat_ids: ["floor-A-1"] },
      { queuePass: "pass-1", idempotencyKey: "k1" },
    );
    expect(hold.id).toBe("h1");
    const call = calls[0] as Call;
    expect(call.url).toBe("/api/v1/concerts/c1/holds");
    expect(call.method).toBe("POST");
    expect(call.body).toEqual({ seat_ids: ["floor-A-1"] });
    expect(call.headers.Authorization).toBe("Bearer access-1");
    expect(call.headers["Idempotency-Key"]).toBe("k1");
    expect(call.headers["X-Queue-Pass"]).toBe("pass-1");
    expect(call.headers["Content-Type"]).toBe("application/json");
  });

  it("generates an Idempotency-Key when none is given", async () => {
    const { impl, calls } = fakeFetch(() => json(201, { order: {}, payment: {} }));
    const client = new ApiClient({
      fetch: impl,
      store: memorySessionStore(session()),
      now: () => 1_000_000,
    });
    await client.checkout("h1");
    expect((calls[0] as Call).headers["Idempotency-Key"]).toMatch(/^[0-9a-f-]{32,36}$/);
    expect((calls[0] as Call).headers["X-Queue-Pass"]).toBeUndefined();
  });

  it("answers 204 with undefined", async () => {
    const { impl } = fakeFetch(() => new Response(null, { status: 204 }));
    const client = new ApiClient({
      fetch: impl,
      store: memorySessionStore(session()),
      now: () => 1_000_000,
    });
    await expect(client.releaseHold("h1")).resolves.toBeUndefined();
  });
});

describe("errors", () => {
  it("turns the contract's error body into an ApiError", async () => {
    const { impl } = fakeFetch(() =>
      json(
        409,
        { error: "SeatsUnavailable", detail: "Seats taken.", unavailable: ["floor-A-1"] },
        { "X-Request-ID": "r1" },
      ),
    );
    const client = new ApiClient({
      fetch: impl,
      store: memorySessionStore(session()),
      now: () => 1_000_000,
    });
    const error = await client.createHold("c1", { quantity: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    const e = error as ApiError;
    expect(e.status).toBe(409);
    expect(e.code).toBe("SeatsUnavailable");
    expect(e.unavailable).toEqual(["floor-A-1"]);
    expect(e.requestId).toBe("r1");
    expect(describeError(e).message).toContain("Floor, row A, seat 1");
  });

  it("reads Retry-After of 429 and 503", async () => {
    const { impl } = fakeFetch(() =>
      json(429, { error: "RateLimited", detail: "Slow down." }, { "Retry-After": "7" }),
    );
    const client = new ApiClient({ fetch: impl });
    const e = (await client.listConcerts({}).catch((x: unknown) => x)) as ApiError;
    expect(e.retryAfter).toBe(7);
    expect(e.transient).toBe(true);
    expect(describeError(e)).toMatchObject({ title: "Too many requests", retryAfter: 7 });
    expect(describeError(e).message).toContain("7 seconds");
  });

  it("names a failure without an error body (a proxy's 502 page)", async () => {
    const { impl } = fakeFetch(() => new Response("<html>Bad gateway</html>", { status: 502 }));
    const client = new ApiClient({ fetch: impl });
    const e = (await client.listConcerts({}).catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe("ServiceUnavailable");
    expect(e.transient).toBe(true);
  });

  it("reports an unreachable service as NetworkError", async () => {
    const client = new ApiClient({
      fetch: (async () => {
        throw new TypeError("Failed to fetch");
      }) as typeof fetch,
    });
    const e = (await client.listConcerts({}).catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(0);
    expect(e.code).toBe("NetworkError");
    expect(describeError(e).title).toBe("Can't reach the service");
  });

  it("maps 422 fields for forms", async () => {
    const { impl } = fakeFetch(() =>
      json(422, {
        error: "ValidationError",
        detail: "Invalid request: password: too short",
        fields: [
          {
            field: "password",
            message: "String should have at least 8 characters",
            type: "string_too_short",
          },
        ],
      }),
    );
    const client = new ApiClient({ fetch: impl });
    const e = await client.signup("a@b.co", "short", "A").catch((x: unknown) => x);
    expect(fieldErrors(e)).toEqual({ password: "Choose a password of at least 8 characters." });
    expect(describeError(e).message).toBe("Choose a password of at least 8 characters.");
    expect(labelOf("sections.0.seats_per_row")).toBe("section 1 seats per row");
  });

  it("refuses to call a protected route without a login", async () => {
    const { impl, calls } = fakeFetch(() => json(200, {}));
    const client = new ApiClient({ fetch: impl });
    const e = (await client.myOrders().catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe("NotAuthenticated");
    expect(calls).toHaveLength(0);
  });
});

describe("tokens", () => {
  it("keeps the session of a login", async () => {
    const { impl } = fakeFetch(() =>
      json(200, {
        access_token: "a",
        refresh_token: "r",
        token_type: "bearer",
        expires_in: 900,
        user,
      }),
    );
    const store = memorySessionStore();
    const { client, changes: seen } = watchedClient(impl, store, 5_000);
    await client.login("fan@example.com", "pw-123456");
    expect(store.load()).toEqual({
      accessToken: "a",
      refreshToken: "r",
      accessExpiresAt: 905_000,
      user,
    });
    expect(seen).toHaveLength(1);
    await client.logout();
    expect(store.load()).toBeNull();
  });

  it("refreshes an access token about to expire before the request", async () => {
    const { impl, calls } = fakeFetch((call) => {
      if (call.url.endsWith("/auth/refresh")) {
        return json(200, {
          access_token: "access-2",
          refresh_token: "refresh-2",
          token_type: "bearer",
          expires_in: 900,
        });
      }
      return json(200, { items: [] });
    });
    const store = memorySessionStore(session({ accessExpiresAt: 1_010_000 }));
    const client = new ApiClient({ fetch: impl, store, now: () => 1_000_000 });
    await client.myOrders();
    expect(calls.map((c) => c.url)).toEqual(["/api/v1/auth/refresh", "/api/v1/me/orders"]);
    expect((calls[0] as Call).body).toEqual({ refresh_token: "refresh-1" });
    expect((calls[1] as Call).headers.Authorization).toBe("Bearer access-2");
    expect(store.load()?.refreshToken).toBe("refresh-2");
    expect(store.load()?.user).toEqual(user);
  });

  it("refreshes once on a 401 and retries; concurrent requests share one refresh", async () => {
    let refreshes = 0;
    const { impl, calls } = fakeFetch((call) => {
      if (call.url.endsWith("/auth/refresh")) {
        refreshes++;
        return json(200, {
          access_token: "access-2",
          refresh_token: "refresh-2",
          token_type: "bearer",
          expires_in: 900,
        });
      }
      if (call.headers.Authorization === "Bearer access-1") {
        return json(401, { error: "NotAuthenticated", detail: "expired" });
      }
      return json(200, { items: [] });
    });
    const client = new ApiClient({
      fetch: impl,
      store: memorySessionStore(session()),
      now: () => 1_000_000,
    });
    await Promise.all([client.myOrders(), client.myTickets(), client.myOrders()]);
    expect(refreshes).toBe(1);
    expect(calls.filter((c) => c.headers.Authorization === "Bearer access-2")).toHaveLength(3);
  });

  it("ends the session when the refresh token is refused", async () => {
    const { impl } = fakeFetch((call) =>
      call.url.endsWith("/auth/refresh")
        ? json(401, { error: "NotAuthenticated", detail: "revoked" })
        : json(401, { error: "NotAuthenticated", detail: "expired" }),
    );
    const store = memorySessionStore(session());
    const ended: string[] = [];
    const client = new ApiClient({
      fetch: impl,
      store,
      now: () => 1_000_000,
      onSessionEnd: (r) => ended.push(r),
    });
    const e = (await client.myOrders().catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(401);
    expect(store.load()).toBeNull();
    expect(ended).toEqual(["Your session has ended. Please log in again."]);
  });

  it("adopts tokens another tab refreshed meanwhile instead of replaying the old one", async () => {
    const { impl, calls } = fakeFetch(() => json(200, { items: [] }));
    const store = memorySessionStore(session({ accessExpiresAt: 1_000_000 }));
    const client = new ApiClient({
      fetch: impl,
      store,
      now: () => 1_000_000,
      // The other tab refreshes while this one waits for the lock.
      lock: async (_name, fn) => {
        store.save(
          session({
            accessToken: "access-9",
            refreshToken: "refresh-9",
            accessExpiresAt: 2_000_000,
          }),
        );
        return fn();
      },
    });
    await client.myOrders();
    expect(calls.map((c) => c.url)).toEqual(["/api/v1/me/orders"]);
    expect((calls[0] as Call).headers.Authorization).toBe("Bearer access-9");
  });

  it("keeps the session when a refresh fails for a transient reason", async () => {
    const { impl } = fakeFetch(() =>
      json(503, { error: "ServiceUnavailable", detail: "down" }, { "Retry-After": "2" }),
    );
    const store = memorySessionStore(session({ accessExpiresAt: 0 }));
    const client = new ApiClient({ fetch: impl, store, now: () => 1_000_000 });
    const e = (await client.myOrders().catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe("ServiceUnavailable");
    expect(store.load()).not.toBeNull();
  });
});

describe("logout and password change", () => {
  const pair = { access_token: "a2", refresh_token: "r2", token_type: "bearer", expires_in: 900 };

  it("tells the service to end the login, then forgets the tokens", async () => {
    const { impl, calls } = fakeFetch(() => new Response(null, { status: 204 }));
    const store = memorySessionStore(session());
    const client = new ApiClient({ fetch: impl, store, now: () => 1_000_000 });
    await client.logout();
    expect(calls).toHaveLength(1);
    const call = calls[0] as Call;
    expect(call.url).toBe("/api/v1/auth/logout");
    expect(call.method).toBe("POST");
    expect(call.body).toEqual({ refresh_token: "refresh-1" });
    expect(call.headers.Authorization).toBeUndefined();
    expect(store.load()).toBeNull();
  });

  it("forgets the tokens even when the service can't be told", async () => {
    for (const failure of [
      () => json(503, { error: "ServiceUnavailable", detail: "down" }),
      () => json(401, { error: "NotAuthenticated", detail: "not ours" }),
      () => {
        throw new TypeError("Failed to fetch");
      },
    ]) {
      const { impl, calls } = fakeFetch(failure);
      const store = memorySessionStore(session());
      const { client, changes } = watchedClient(impl, store, 1_000_000);
      await client.logout();
      expect(calls).toHaveLength(1);
      expect(store.load()).toBeNull();
      expect(changes).toEqual([null]);
    }
  });

  it("logs out without a call when there is no login", async () => {
    const { impl, calls } = fakeFetch(() => new Response(null, { status: 204 }));
    const client = new ApiClient({ fetch: impl, store: memorySessionStore(), now: () => 0 });
    await client.logout();
    expect(calls).toHaveLength(0);
  });

  it("changes the password, then logs in again with it", async () => {
    const { impl, calls } = fakeFetch((call) =>
      call.url.endsWith("/auth/password")
        ? new Response(null, { status: 204 })
        : json(200, { ...pair, user }),
    );
    const store = memorySessionStore(session());
    const client = new ApiClient({ fetch: impl, store, now: () => 1_000_000 });
    const again = await client.changePassword("old-password", "new-password-1");
    expect(again).toEqual(user);
    expect(calls.map((c) => c.url)).toEqual(["/api/v1/auth/password", "/api/v1/auth/login"]);
    const [change, login] = calls as [Call, Call];
    expect(change.headers.Authorization).toBe("Bearer access-1");
    expect(change.body).toEqual({
      current_password: "old-password",
      new_password: "new-password-1",
    });
    expect(login.body).toEqual({ email: user.email, password: "new-password-1" });
    expect(store.load()?.refreshToken).toBe("r2");
  });

  it("sends a wrong current password once and keeps the login", async () => {
    const { impl, calls } = fakeFetch(() =>
      json(401, { error: "InvalidCredentials", detail: "The current password is wrong." }),
    );
    const store = memorySessionStore(session());
    const client = new ApiClient({ fetch: impl, store, now: () => 1_000_000 });
    const e = (await client
      .changePassword("wrong", "new-password-1")
      .catch((x: unknown) => x)) as ApiError;
    expect(e.code).toBe("InvalidCredentials");
    expect(calls.map((c) => c.url)).toEqual(["/api/v1/auth/password"]);
    expect(store.load()?.refreshToken).toBe("refresh-1");
  });

  it("logs out when the new login fails after the change", async () => {
    const { impl } = fakeFetch((call) =>
      call.url.endsWith("/auth/password")
        ? new Response(null, { status: 204 })
        : json(503, { error: "ServiceUnavailable", detail: "down" }),
    );
    const store = memorySessionStore(session());
    const client = new ApiClient({ fetch: impl, store, now: () => 1_000_000 });
    expect(await client.changePassword("old-password", "new-password-1")).toBeNull();
    expect(store.load()).toBeNull();
  });
});
