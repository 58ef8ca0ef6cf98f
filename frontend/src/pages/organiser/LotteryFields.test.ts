import { describe, expect, it } from "vitest";
import { lotteryDraft, lotteryProblems, lotterySettings, NEW_LOTTERY } from "./LotteryFields";

const ON_SALE = "2030-06-01T10:00:00.000Z";
const draft = (over: Partial<typeof NEW_LOTTERY> = {}) => ({
  lottery: true,
  opensAt: "2030-05-20T09:00",
  closesAt: "2030-05-30T09:00",
  winners: "500",
  ...over,
});

describe("lottery settings", () => {
  it("are fifo when off, and the window in the venue's zone when on", () => {
    expect(lotterySettings(NEW_LOTTERY, "UTC")).toEqual({ mode: "fifo" });
    expect(lotterySettings(draft(), "Europe/Amsterdam")).toEqual({
      mode: "lottery",
      registration_opens_at: "2030-05-20T07:00:00.000Z",
      registration_closes_at: "2030-05-30T07:00:00.000Z",
      winners: 500,
    });
  });

  it("round-trips a concert's queue", () => {
    const d = lotteryDraft(
      {
        enabled: true,
        admit_per_minute: 600,
        max_active: 100,
        mode: "lottery",
        registration_opens_at: "2030-05-20T07:00:00Z",
        registration_closes_at: "2030-05-30T07:00:00Z",
        winners: 500,
      },
      "Europe/Amsterdam",
    );
    expect(d).toEqual(draft());
  });

  it("says what is wrong in plain words", () => {
    expect(lotteryProblems(draft(), ON_SALE, true, "UTC")).toEqual({});
    expect(lotteryProblems(NEW_LOTTERY, ON_SALE, false, "UTC")).toEqual({});
    expect(lotteryProblems(draft(), ON_SALE, false, "UTC").lottery).toMatch(/waiting room/);
    expect(lotteryProblems(draft({ opensAt: "" }), ON_SALE, true, "UTC").opensAt).toMatch(
      /when registration opens/,
    );
    expect(
      lotteryProblems(draft({ closesAt: "2030-05-10T09:00" }), ON_SALE, true, "UTC").closesAt,
    ).toMatch(/close after it opens/);
    expect(
      lotteryProblems(draft({ closesAt: "2030-06-02T09:00" }), ON_SALE, true, "UTC").closesAt,
    ).toMatch(/before the on-sale/);
    expect(lotteryProblems(draft({ winners: "0" }), ON_SALE, true, "UTC").winners).toMatch(
      /At least 1/,
    );
  });
});
