import { describe, expect, it } from "vitest";
import type { Concert } from "../../api/types";
import { NEW_QUEUE, queueDraft, queueSettings } from "./queueForm";

const QUEUE: Concert["queue"] = {
  enabled: true,
  admit_per_minute: 300,
  max_active: 900,
  opens_at: null,
  challenge: true,
  challenge_difficulty: 300_000,
  mode: "fifo",
};

describe("waiting-room settings", () => {
  it("keep the proof-of-work check when saved unchanged", () => {
    expect(queueSettings(queueDraft(QUEUE, "UTC"), "UTC")).toEqual({
      enabled: true,
      admit_per_minute: 300,
      max_active: 900,
      challenge: true,
      challenge_difficulty: 300_000,
    });
  });

  it("start without a check for a new concert", () => {
    expect(queueSettings(NEW_QUEUE, "UTC")).toMatchObject({
      challenge: false,
      challenge_difficulty: 100_000,
    });
  });
});
