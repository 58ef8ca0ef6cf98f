import { describe, expect, it } from "vitest";
import { ApiError } from "../api/client";
import type { QueueStatus } from "../api/types";
import { needsNewCheck, pollQueue, type QueueApi } from "./queuePass";

const waiting: QueueStatus = {
  state: "waiting",
  position: 3,
  ahead: 2,
  eta_seconds: 10,
  poll_after_seconds: 2,
};
const notJoined = new ApiError(404, {
  error: "QueueNotJoined",
  detail: "You are not in this concert's queue: ... Join again with POST ...",
});

function fakeApi(statusAnswers: Array<QueueStatus | Error>) {
  const calls: string[] = [];
  const api: QueueApi = {
    async joinQueue(concertId, altcha) {
      calls.push(altcha ? `join ${concertId} with ${altcha}` : `join ${concertId}`);
      return { ...waiting, position: 7, ahead: 6 };
    },
    async queueStatus(concertId) {
      calls.push(`status ${concertId}`);
      const next = statusAnswers.shift();
      if (next === undefined) throw new Error("unexpected status call");
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return { api, calls };
}

describe("the waiting page's poll", () => {
  it("joins the first time and asks for the status afterwards", async () => {
    const { api, calls } = fakeApi([waiting]);
    expect(await pollQueue(api, "c1", false)).toEqual({
      status: { ...waiting, position: 7, ahead: 6 },
      rejoined: false,
    });
    expect(await pollQueue(api, "c1", true)).toEqual({ status: waiting, rejoined: false });
    expect(calls).toEqual(["join c1", "status c1"]);
  });

  it("joins again by itself when the service lost its place, and says so", async () => {
    const { api, calls } = fakeApi([notJoined]);
    const step = await pollQueue(api, "c1", true);
    expect(step.rejoined).toBe(true);
    expect(step.status.position).toBe(7);
    expect(calls).toEqual(["status c1", "join c1"]);
  });

  it("passes other errors on", async () => {
    const down = new ApiError(503, { error: "ServiceUnavailable", detail: "Try again." });
    const { api } = fakeApi([down]);
    await expect(pollQueue(api, "c1", true)).rejects.toBe(down);
  });
});

describe("the waiting page's poll with a proof-of-work check", () => {
  it("sends the solved challenge with the join, and not with the status", async () => {
    const { api, calls } = fakeApi([waiting]);
    await pollQueue(api, "c1", false, "payload-1");
    await pollQueue(api, "c1", true, "payload-1");
    expect(calls).toEqual(["join c1 with payload-1", "status c1"]);
  });

  it("asks for a new check only when the join was refused for want of one", () => {
    const failed = new ApiError(403, { error: "ChallengeFailed", detail: "already used" });
    const required = new ApiError(403, { error: "ChallengeRequired", detail: "do the check" });
    const other = new ApiError(403, { error: "QueuePassRequired", detail: "..." });
    expect(needsNewCheck(failed)).toBe(true);
    expect(needsNewCheck(required)).toBe(true);
    expect(needsNewCheck(other)).toBe(false);
    expect(needsNewCheck(new Error("offline"))).toBe(false);
  });
});
