import { describe, expect, it } from "vitest";
import { dateTime } from "./format";
import { knownZone, localInput, timeZones, toIso } from "./localTime";

describe("wall-clock times in a venue's zone", () => {
  it("reads an input in the venue's zone, not the browser's", () => {
    expect(toIso("2026-07-04T20:00", "Europe/Amsterdam")).toBe("2026-07-04T18:00:00.000Z");
    expect(toIso("2026-07-04T20:00", "America/New_York")).toBe("2026-07-05T00:00:00.000Z");
    expect(toIso("2026-01-10T20:00", "Europe/Amsterdam")).toBe("2026-01-10T19:00:00.000Z");
    expect(toIso("2026-07-04T20:00", "UTC")).toBe("2026-07-04T20:00:00.000Z");
    expect(toIso("2026-07-04T20:00", "Asia/Kolkata")).toBe("2026-07-04T14:30:00.000Z");
  });

  it("writes an instant as the venue's wall clock", () => {
    const t = new Date("2026-07-04T18:00:00Z");
    expect(localInput(t, "Europe/Amsterdam")).toBe("2026-07-04T20:00");
    expect(localInput(t, "America/New_York")).toBe("2026-07-04T14:00");
    expect(localInput(t, "Pacific/Auckland")).toBe("2026-07-05T06:00");
  });

  it("round-trips around the changes of offset", () => {
    for (const local of ["2026-03-29T01:59", "2026-03-29T03:00", "2026-10-25T03:30"]) {
      expect(
        localInput(new Date(toIso(local, "Europe/Amsterdam") as string), "Europe/Amsterdam"),
      ).toBe(local);
    }
    // 02:30 does not exist in Amsterdam that night: read with the winter offset (03:30 CEST).
    expect(toIso("2026-03-29T02:30", "Europe/Amsterdam")).toBe("2026-03-29T01:30:00.000Z");
  });

  it("refuses what is not a datetime-local value", () => {
    expect(toIso("", "Europe/Amsterdam")).toBeNull();
    expect(toIso("tomorrow", "Europe/Amsterdam")).toBeNull();
  });

  it("falls back to UTC for a zone the browser does not know", () => {
    expect(knownZone("Mars/Olympus_Mons")).toBe("UTC");
    expect(knownZone(undefined)).toBe("UTC");
    expect(knownZone("Europe/Amsterdam")).toBe("Europe/Amsterdam");
    expect(toIso("2026-07-04T20:00", "Mars/Olympus_Mons")).toBe("2026-07-04T20:00:00.000Z");
  });

  it("offers every zone the browser knows, UTC first", () => {
    const zones = timeZones();
    expect(zones[0]).toBe("UTC");
    expect(zones).toContain("Europe/Amsterdam");
    expect(new Set(zones).size).toBe(zones.length);
  });
});

describe("times shown in the venue's zone", () => {
  const show = "2026-07-04T12:30:00Z"; // 14:30 in Amsterdam, 08:30 in New York

  it("shows an Amsterdam show at Amsterdam time, with the zone, wherever the reader is", () => {
    const text = dateTime(show, "Europe/Amsterdam", "en-GB");
    expect(text).toContain("14:30");
    expect(text).toContain("CEST");
    expect(dateTime(show, "Europe/Amsterdam", "en-US")).toContain("02:30 PM GMT+2");
  });

  it("shows a New York show at New York time", () => {
    expect(dateTime(show, "America/New_York", "en-US")).toContain("08:30 AM EDT");
  });

  it("says UTC for a venue without a zone and never throws on an unknown one", () => {
    expect(dateTime(show, "UTC", "en-GB")).toContain("12:30 UTC");
    expect(dateTime(show, "Nowhere/Town", "en-GB")).toContain("12:30 UTC");
  });
});
