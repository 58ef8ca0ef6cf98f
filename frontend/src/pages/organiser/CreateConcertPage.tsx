import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useMemo, useState } from "react";
import { useNavigate } from "react-router-dom";
import { fieldErrors } from "../../api/errors";
import type { ConcertCreate, SectionCreate } from "../../api/types";
import { TimeZoneSelect } from "../../components/TimeZoneSelect";
import { ErrorBox, Field, InputField, Notice } from "../../components/ui";
import { useDraft } from "../../components/useDraft";
import { usePageTitle } from "../../components/usePageTitle";
import { api } from "../../lib/api";
import { money, zoneName } from "../../lib/format";
import { GENRES } from "../../lib/genres";
import { browserZone, localInput, toIso } from "../../lib/localTime";
import { AVAILABLE, previewLayout, SeatMapModel } from "../../seatmap/model";
import { SeatMap } from "../../seatmap/SeatMap";
import { adminPage } from "./AdminOnly";
import { LotteryFields, lotteryProblem, lotterySettings, NEW_LOTTERY } from "./LotteryFields";
import { NEW_QUEUE, QueueFields, QueueToggle, queueSettings } from "./queueForm";

const MAX_SEATS = 100_000;
const NO_SEATS: ReadonlySet<number> = new Set();

interface SectionDraft {
  key: number;
  name: string;
  price: string;
  rows: string;
  seatsPerRow: string;
}

/** The concert's own fields as the form edits them (strings, as typed). */
interface ConcertDraft {
  title: string;
  artist: string;
  genre: string;
  description: string;
  venueName: string;
  city: string;
  /** The venue's IANA zone: the times below are wall-clock times there. */
  timeZone: string;
  startsAt: string;
  onSaleAt: string;
  currency: string;
  maxTickets: string;
}

/** Each field's input id and the API's field (for its error). */
const CONCERT_INPUTS: Record<keyof ConcertDraft, [id: string, apiField: string]> = {
  title: ["c-title", "title"],
  artist: ["c-artist", "artist"],
  genre: ["c-genre", "genre"],
  description: ["c-desc", "description"],
  venueName: ["c-venue", "venue.name"],
  city: ["c-city", "venue.city"],
  timeZone: ["c-zone", "venue.time_zone"],
  startsAt: ["c-starts", "starts_at"],
  onSaleAt: ["c-onsale", "on_sale_at"],
  currency: ["c-currency", "currency"],
  maxTickets: ["c-max", "max_tickets_per_user"],
};

/** A new concert: on sale now, starting at 20:00 thirty days from now. */
function newConcert(now: Date): ConcertDraft {
  const starts = new Date(now.getTime() + 30 * 86_400_000);
  starts.setHours(20, 0, 0, 0);
  return {
    title: "",
    artist: "",
    genre: "rock",
    description: "",
    venueName: "",
    city: "",
    timeZone: browserZone(),
    startsAt: localInput(starts),
    onSaleAt: localInput(now),
    currency: "EUR",
    maxTickets: "8",
  };
}

/** The inputs of a section: the draft's field, its label (section `n`, prices in `currency`),
 * the input's id part, the API's field (for its error), the input's constraints. */
// biome-ignore format: a table, an input a line
const SECTION_INPUTS: {
  key: Exclude<keyof SectionDraft, "key">;
  label: (n: number, currency: string) => string;
  idPart: string;
  field: keyof SectionCreate;
  input: { type?: "number"; min?: number; max?: number; step?: string };
}[] = [
  { key: "name", label: (n) => `Section ${n} name`, idPart: "name", field: "name", input: {} },
  { key: "price", label: (_, c) => `Price (${c || "—"})`, idPart: "price", field: "price_cents", input: { type: "number", min: 0, step: "0.01" } },
  { key: "rows", label: () => "Rows", idPart: "rows", field: "rows", input: { type: "number", min: 1, max: 200 } },
  { key: "seatsPerRow", label: () => "Seats per row", idPart: "seats", field: "seats_per_row", input: { type: "number", min: 1, max: 500 } },
];

let nextKey = 1;
const section = (name: string, price: string, rows: string, seatsPerRow: string): SectionDraft => ({
  key: nextKey++,
  name,
  price,
  rows,
  seatsPerRow,
});

export default adminPage(CreateConcertForm, "New concert");

function CreateConcertForm() {
  usePageTitle("New concert");
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const { draft, bind } = useDraft(() => newConcert(new Date()));
  const queue = useDraft(NEW_QUEUE);
  const lottery = useDraft(NEW_LOTTERY);
  const [sections, setSections] = useState<SectionDraft[]>(() => [
    section("Floor", "55", "10", "20"),
    section("Balcony", "40", "5", "16"),
  ]);
  const [localError, setLocalError] = useState<string | null>(null);

  const numbers = sections.map((s) => ({
    name: s.name.trim(),
    price_cents: Math.round(Number(s.price || "0") * 100),
    rows: Math.floor(Number(s.rows || "0")),
    seats_per_row: Math.floor(Number(s.seatsPerRow || "0")),
  }));
  const totalSeats = numbers.reduce(
    (sum, s) => sum + Math.max(0, s.rows) * Math.max(0, s.seats_per_row),
    0,
  );
  const layoutKey = JSON.stringify(numbers);
  // biome-ignore lint/correctness/useExhaustiveDependencies: layoutKey stands for `numbers`
  const preview = useMemo(() => {
    const valid = numbers.filter((s) => s.rows > 0 && s.seats_per_row > 0);
    if (!valid.length || totalSeats > MAX_SEATS) return null;
    const model = new SeatMapModel(previewLayout(valid));
    model.fill(AVAILABLE);
    return model;
  }, [layoutKey]);

  const create = useMutation({
    mutationFn: (body: ConcertCreate) => api.createConcert(body),
    onSuccess: (c) => {
      queryClient.invalidateQueries({ queryKey: ["concerts"] });
      queryClient.invalidateQueries({ queryKey: ["organiser"] });
      navigate(`/organiser/concerts/${c.id}`);
    },
  });
  const fields = fieldErrors(create.error);
  /** How the input of a concert field is wired: its id, the API's error for it, its value. */
  const input = (key: keyof ConcertDraft) => {
    const [id, apiField] = CONCERT_INPUTS[key];
    return { id, error: fields[apiField], ...bind(key) };
  };
  const currency = draft.currency.toUpperCase();

  const update = (key: number, patch: Partial<SectionDraft>) =>
    setSections((list) => list.map((s) => (s.key === key ? { ...s, ...patch } : s)));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setLocalError(null);
    // Wall-clock times at the venue, whatever zone this browser is in.
    const starts = toIso(draft.startsAt, draft.timeZone);
    const onSale = toIso(draft.onSaleAt, draft.timeZone);
    if (!starts || !onSale)
      return setLocalError("Set when the concert starts and when it goes on sale.");
    if (onSale >= starts) return setLocalError("The on-sale must open before the concert starts.");
    if (totalSeats > MAX_SEATS)
      return setLocalError(`A venue has at most ${MAX_SEATS.toLocaleString()} seats.`);
    if (numbers.some((s) => !s.name || s.rows < 1 || s.seats_per_row < 1)) {
      return setLocalError("Every section needs a name, at least one row and one seat per row.");
    }
    const lotteryError = lotteryProblem(lottery.draft, onSale, queue.draft.enabled, draft.timeZone);
    if (lotteryError) return setLocalError(lotteryError);
    create.mutate({
      title: draft.title.trim(),
      artist: draft.artist.trim(),
      genre: draft.genre.trim(),
      description: draft.description.trim(),
      venue: { name: draft.venueName.trim(), city: draft.city.trim(), time_zone: draft.timeZone },
      starts_at: starts,
      on_sale_at: onSale,
      currency: currency.trim(),
      max_tickets_per_user: Number(draft.maxTickets),
      queue: {
        ...queueSettings(queue.draft, draft.timeZone),
        ...lotterySettings(lottery.draft, draft.timeZone),
      },
      sections: numbers,
    });
  };

  return (
    <form className="space-y-6" onSubmit={submit} noValidate>
      <h1 className="text-2xl font-bold">New concert</h1>
      <div className="card grid gap-4 sm:grid-cols-2">
        <InputField label="Title" {...input("title")} required maxLength={200} />
        <InputField label="Artist" {...input("artist")} required maxLength={200} />
        <InputField label="Genre" {...input("genre")} required maxLength={50} list="genres">
          <datalist id="genres">
            {GENRES.map((g) => (
              <option key={g} value={g} />
            ))}
          </datalist>
        </InputField>
        <div className="grid grid-cols-2 gap-3">
          <InputField
            label="Currency"
            {...input("currency")}
            className="input uppercase"
            required
            maxLength={3}
          />
          <InputField
            label="Tickets per buyer"
            {...input("maxTickets")}
            type="number"
            min={1}
            max={100}
          />
        </div>
        <InputField label="Venue" {...input("venueName")} required />
        <InputField label="City" {...input("city")} required />
        <TimeZoneSelect
          id={CONCERT_INPUTS.timeZone[0]}
          error={fields[CONCERT_INPUTS.timeZone[1]]}
          hint="The venue's: buyers see every time in it."
          value={draft.timeZone}
          onValue={bind("timeZone").onValue}
        />
        <InputField
          label="Starts"
          {...input("startsAt")}
          type="datetime-local"
          hint={zoneName(draft.timeZone)}
          required
        />
        <InputField
          label="On sale from"
          {...input("onSaleAt")}
          type="datetime-local"
          hint={zoneName(draft.timeZone)}
          required
        />
        <div className="sm:col-span-2">
          <Field label="Description" htmlFor="c-desc" error={fields.description}>
            <textarea
              id="c-desc"
              className="input"
              rows={3}
              maxLength={5000}
              value={draft.description}
              onChange={(e) => bind("description").onValue(e.target.value)}
            />
          </Field>
        </div>
      </div>

      <fieldset className="card space-y-4">
        <legend className="px-1 text-lg font-semibold">Layout</legend>
        <p className="text-sm text-slate-600">
          Sections are drawn from the stage outwards. Rows are labelled A, B, C…; seats are numbered
          from 1.
        </p>
        <div className="space-y-3">
          {sections.map((s, i) => (
            <div
              key={s.key}
              className="grid grid-cols-2 items-end gap-2 rounded-lg border border-slate-200 p-3 sm:grid-cols-[2fr_1fr_1fr_1fr_auto]"
            >
              {SECTION_INPUTS.map(({ key, label, idPart, field, input }) => (
                <InputField
                  key={key}
                  label={label(i + 1, currency)}
                  id={`s-${idPart}-${s.key}`}
                  error={fields[`sections.${i}.${field}`]}
                  value={s[key]}
                  onValue={(v) => update(s.key, { [key]: v })}
                  {...input}
                />
              ))}
              <button
                type="button"
                className="btn-secondary"
                disabled={sections.length === 1}
                onClick={() => setSections((list) => list.filter((x) => x.key !== s.key))}
                aria-label={`Remove section ${i + 1}`}
              >
                Remove
              </button>
            </div>
          ))}
        </div>
        <div className="flex flex-wrap items-center justify-between gap-2">
          <button
            type="button"
            className="btn-secondary"
            disabled={sections.length >= 50}
            onClick={() =>
              setSections((l) => [...l, section(`Section ${l.length + 1}`, "30", "5", "10")])
            }
          >
            Add section
          </button>
          <p
            className={`text-sm ${totalSeats > MAX_SEATS ? "font-semibold text-rose-700" : "text-slate-600"}`}
            data-testid="total-seats"
          >
            {totalSeats.toLocaleString()} seats
            {numbers.length > 0 &&
              ` · from ${money(Math.min(...numbers.map((n) => n.price_cents)), currency || "EUR")}`}
          </p>
        </div>
        {preview ? (
          <SeatMap
            model={preview}
            selected={NO_SEATS}
            currency={currency || "EUR"}
            label="Layout preview"
          />
        ) : (
          <Notice tone="info">
            The preview appears once every section has rows and seats (at most 100,000 seats).
          </Notice>
        )}
      </fieldset>

      <fieldset className="card space-y-4">
        <legend className="px-1 text-lg font-semibold">Waiting room</legend>
        <QueueToggle draft={queue.draft} onChange={queue.patch}>
          Put buyers in a waiting room (for on-sales with more buyers than seats)
        </QueueToggle>
        {queue.draft.enabled && (
          <QueueFields draft={queue.draft} onChange={queue.patch} fields={fields} />
        )}
        {queue.draft.enabled && (
          <LotteryFields
            draft={lottery.draft}
            onChange={lottery.patch}
            onSale={toIso(draft.onSaleAt, draft.timeZone)}
            queueOn={queue.draft.enabled}
            timeZone={draft.timeZone}
          />
        )}
      </fieldset>

      {localError && <Notice tone="error">{localError}</Notice>}
      {create.isError && <ErrorBox error={create.error} />}
      <div className="flex gap-3">
        <button type="submit" className="btn-primary" disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create concert"}
        </button>
        <button type="button" className="btn-secondary" onClick={() => navigate("/organiser")}>
          Cancel
        </button>
      </div>
    </form>
  );
}
