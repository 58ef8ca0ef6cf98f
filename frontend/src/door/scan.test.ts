import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import { admitted, clockTime, headline, RepeatFilter, refused } from "./scan";

const hhmm = (iso: string) => clockTime(iso, "UTC");

describe("RepeatFilter", () => {
  it("lets a code through once per window", () => {
    const f = new RepeatFilter(4000);
    expect(f.accept("a", 0)).toBe(true);
    expect(f.accept("a", 200)).toBe(false);
    expect(f.accept("a", 3999)).toBe(false);
    expect(f.accept("a", 4000)).toBe(true);
  });

  it("keeps codes apart", () => {
    const f = new RepeatFilter(4000);
    expect(f.accept("a", 0)).toBe(true);
    expect(f.accept("b", 100)).toBe(true);
    expect(f.accept("a", 200)).toBe(false);
    expect(f.accept("b", 300)).toBe(false);
  });
});

describe("scan results", () => {
  it("admits with the seat", () => {
    const r = admitted({
      ticket_id: "t",
      order_id: "o",
      seat_id: "floor-B-3",
      section: "Floor",
      row: "B",
      number: 3,
      holder_name: "Ada",
      checked_in_at: "2026-12-07T20:14:05Z",
    });
    expect(r).toEqual({
      kind: "admitted",
      seat: "Floor, row B, seat 3",
      holder: "Ada",
      at: "2026-12-07T20:14:05Z",
    });
    expect(headline(r, hhmm)).toBe("Admitted");
  });

  it("says since when a ticket is in", () => {
    const r = refused(
      new ApiError(409, {
        error: "AlreadyCheckedIn",
        detail: "This ticket was already used to enter.",
        checked_in_at: "2026-12-07T20:14:05Z",
      }),
    );
    expect(r.kind).toBe("already_in");
    expect(headline(r, hhmm)).toBe("Already in since 20:14");
  });

  it("says why a ticket is revoked", () => {
    const r = refused(
      new ApiError(409, { error: "TicketRevoked", detail: "Refunded.", reason: "refunded" }),
    );
    expect(headline(r, hhmm)).toBe("Revoked (refunded)");
  });

  it("refuses an invalid code", () => {
    const r = refused(new ApiError(422, { error: "InvalidTicket", detail: "Not ours." }));
    expect(r).toEqual({ kind: "invalid", detail: "Not ours." });
    expect(headline(r, hhmm)).toBe("Not a ticket for this concert");
  });

  it("tells a lost connection from a refusal", () => {
    expect(refused(new ApiError(0, null)).kind).toBe("error");
    expect(refused(new ApiError(403, { error: "Forbidden", detail: "No." })).kind).toBe("error");
    expect(refused(new Error("boom")).kind).toBe("error");
  });
});
