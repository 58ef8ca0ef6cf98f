import { describe, expect, it } from "vitest";
import { ApiError } from "./client";
import { allFieldsShown, describeError, fieldErrors, fieldMessage } from "./errors";
import { parseSeatId, seatName, seatNamer } from "./seatNames";
import type { ErrorBody, FieldError } from "./types";

// The fields, messages and types below are what the service's 422 bodies carry (pydantic's
// `msg` and `type`, app/errors.py), taken from its schemas.

function invalid(...fields: FieldError[]): ApiError {
  return new ApiError(422, {
    error: "ValidationError",
    detail: `Invalid request: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`,
    fields,
  });
}

const tooShort = (field: string, n: number): FieldError => ({
  field,
  message: `String should have at least ${n} character${n === 1 ? "" : "s"}`,
  type: "string_too_short",
});

describe("422 in words", () => {
  it("asks for each sign-up field in plain words", () => {
    const e = invalid(
      {
        field: "email",
        message: "value is not a valid email address: An email address must have an @-sign.",
        type: "value_error",
      },
      tooShort("password", 8),
      tooShort("name", 1),
    );
    expect(fieldErrors(e)).toEqual({
      email: "Enter an email address like name@example.com.",
      password: "Choose a password of at least 8 characters.",
      name: "Enter your name.",
    });
    const { title, message } = describeError(e);
    expect(title).toBe("Please check the form");
    expect(message).not.toMatch(/String should|value is not|@-sign|password:/);
  });

  it("asks for what is missing at login and at a password change", () => {
    expect(fieldMessage(tooShort("email", 1))).toBe("Enter your email address.");
    expect(fieldMessage(tooShort("password", 1))).toBe("Enter your password.");
    expect(fieldMessage(tooShort("current_password", 1))).toBe("Enter your current password.");
    expect(fieldMessage(tooShort("new_password", 8))).toBe(
      "Choose a password of at least 8 characters.",
    );
    expect(fieldMessage({ field: "name", message: "Field required", type: "missing" })).toBe(
      "Enter your name.",
    );
    expect(
      fieldMessage({
        field: "password",
        message: "String should have at most 128 characters",
        type: "string_too_long",
      }),
    ).toBe("Use at most 128 characters for your password.");
  });

  it("names the organiser's fields, sections by number and prices in currency units", () => {
    const cases: [FieldError, string][] = [
      [tooShort("title", 1), "Enter the title."],
      [tooShort("venue.name", 1), "Enter the venue."],
      [
        {
          field: "currency",
          message: "String should match pattern '^[A-Z]{3}$'",
          type: "string_pattern_mismatch",
        },
        "Use a three-letter currency code, such as EUR.",
      ],
      [
        {
          field: "max_tickets_per_user",
          message: "Input should be greater than or equal to 1",
          type: "greater_than_equal",
        },
        "Use 1 or more for tickets per buyer.",
      ],
      [
        {
          field: "sections.1.price_cents",
          message: "Input should be less than or equal to 100000000",
          type: "less_than_equal",
        },
        `Use ${(1_000_000).toLocaleString()} or less for the price of section 2.`,
      ],
      [
        {
          field: "sections.0.seats_per_row",
          message: "Input should be a valid integer",
          type: "int_type",
        },
        "Enter a whole number for the seats per row of section 1.",
      ],
      [
        {
          field: "sections",
          message: "List should have at least 1 item after validation, not 0",
          type: "too_short",
        },
        "Add at least one section.",
      ],
      [
        {
          field: "starts_at",
          message: "Input should be a valid datetime or date, input is too short",
          type: "datetime_from_date_parsing",
        },
        "Enter a date and time for when the concert starts.",
      ],
      [
        { field: "on_sale_at", message: "Input should have timezone info", type: "timezone_aware" },
        "Enter a date and time for when the sale opens.",
      ],
      [
        {
          field: "body",
          message: "Value error, on_sale_at must be before starts_at",
          type: "value_error",
        },
        "The sale must open before the concert starts.",
      ],
      [
        {
          field: "date_from",
          message: "date_from must not be after date_to",
          type: "value_error",
        },
        "The From date must not be after the To date.",
      ],
      [
        {
          field: "section_id",
          message: "no section with this id in the concert",
          type: "value_error",
        },
        "The section: no section with this id in the concert.",
      ],
      [
        { field: "extra", message: "Extra inputs are not permitted", type: "extra_forbidden" },
        "This page sent something the service does not take. Reload the page and try again.",
      ],
      [
        { field: "sections.0.weird", message: "Something odd", type: "some_new_type" },
        "Check section 1 weird.",
      ],
    ];
    for (const [field, words] of cases) expect(fieldMessage(field)).toBe(words);
  });

  it("tells a form when a field error has no input of its own", () => {
    const e = invalid(tooShort("email", 1), {
      field: "extra",
      message: "Extra inputs are not permitted",
      type: "extra_forbidden",
    });
    expect(allFieldsShown(e, ["email", "password"])).toBe(false);
    expect(allFieldsShown(invalid(tooShort("email", 1)), ["email", "password"])).toBe(true);
    expect(allFieldsShown(new Error("x"), ["email"])).toBe(false);
  });
});

describe("seat names", () => {
  const concert = {
    sections: [
      { id: "floor", name: "Floor" },
      { id: "upper-tier-2", name: "Upper tier (east)" },
    ],
  };

  it("reads an id from its end: section ids may contain dashes", () => {
    expect(parseSeatId("upper-tier-2-AB-14")).toEqual({
      sectionId: "upper-tier-2",
      row: "AB",
      number: 14,
    });
    expect(parseSeatId("nonsense")).toBeNull();
  });

  it("names seats from the layout, else from the id", () => {
    expect(seatName("floor-I-14")).toBe("Floor, row I, seat 14");
    expect(seatName("upper-tier-2-B-3")).toBe("Upper tier 2, row B, seat 3");
    expect(seatNamer(concert)("upper-tier-2-B-3")).toBe("Upper tier (east), row B, seat 3");
  });

  it("says which seats were taken by their names, never their ids", () => {
    const body: ErrorBody = {
      error: "SeatsUnavailable",
      detail: "Some of these seats were just taken; nothing was held. Pick other seats.",
      unavailable: ["floor-I-14", "upper-tier-2-B-3"],
    };
    const e = new ApiError(409, body);
    expect(describeError(e).message).toBe(
      "Someone else got these seats first: Floor, row I, seat 14; Upper tier 2, row B, seat 3. Nothing was held: pick other seats.",
    );
    expect(describeError(e, { seatName: seatNamer(concert) }).message).toContain(
      "Upper tier (east), row B, seat 3",
    );
    const best = new ApiError(409, { ...body, unavailable: [] });
    expect(describeError(best).message).toMatch(/^Not enough seats are left for that/);
  });
});

describe("errors whose detail speaks to programs", () => {
  it("uses this app's words", () => {
    const cases: [ErrorBody, number, RegExp][] = [
      [
        {
          error: "NotAuthenticated",
          detail: "Log in first: send a valid access token as `Authorization: Bearer <token>`.",
        },
        401,
        /^Log in to do this/,
      ],
      [
        {
          error: "QueuePassRequired",
          detail:
            "This on-sale has a waiting room: join the queue and send the pass you get as the X-Queue-Pass header.",
        },
        403,
        /^This on-sale has a waiting room: join it/,
      ],
      [
        { error: "HoldLimitExceeded", detail: "x", limit: 4, already: 3 },
        409,
        /at most 4 tickets per buyer, and you already have 3/,
      ],
      [
        {
          error: "UnknownSeats",
          detail: "Some seat ids do not exist in this concert's layout.",
          unknown: ["floor-Z-99"],
        },
        422,
        /^Floor, row Z, seat 99: not in this concert's seat map/,
      ],
      [{ error: "HTTP418", detail: "I'm a teapot" }, 418, /^The service answered with an error/],
    ];
    for (const [body, status, words] of cases) {
      const message = describeError(new ApiError(status, body)).message;
      expect(message).toMatch(words);
      expect(message).not.toMatch(/Authorization|X-Queue-Pass|floor-|seat ids|teapot/);
    }
  });

  it("keeps a page's own fault out of sight", () => {
    const { message } = describeError(new TypeError("Cannot read properties of undefined"));
    expect(message).not.toContain("undefined");
  });
});
