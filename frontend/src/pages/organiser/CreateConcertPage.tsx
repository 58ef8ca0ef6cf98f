import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useMemo, useState } from "react";
import { useNavigate } from "react-router-dom";
import { fieldErrors } from "../../api/errors";
import type { ConcertCreate, QueueSettings, SectionCreate } from "../../api/types";
import { ErrorBox, Field, InputField, Notice } from "../../components/ui";
import { api } from "../../lib/api";
import { money } from "../../lib/format";
import { GENRES } from "../../lib/genres";
import { AVAILABLE, previewLayout, SeatMapModel } from "../../seatmap/model";
import { SeatMap } from "../../seatmap/SeatMap";
import { AdminOnly } from "./AdminOnly";

const MAX_SEATS = 100_000;
const NO_SEATS: ReadonlySet<number> = new Set();

interface SectionDraft {
  key: number;
  name: string;
  price: string;
  rows: string;
  seatsPerRow: string;
}

/** `datetime-local` value (local time) for a Date. */
function localInput(d: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

function toIso(local: string): string | null {
  if (!local) return null;
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? null : t.toISOString();
}

/** The waiting-room settings as the API takes them, from the form's strings. */
function queueSettings(
  enabled: boolean,
  admitPerMinute: string,
  maxActive: string,
  opensAt: string,
): QueueSettings {
  const opens = toIso(opensAt);
  return {
    enabled,
    admit_per_minute: Number(admitPerMinute),
    max_active: Number(maxActive),
    ...(opens ? { opens_at: opens } : {}),
  };
}

let nextKey = 1;
const section = (name: string, price: string, rows: string, seatsPerRow: string): SectionDraft => ({
  key: nextKey++,
  name,
  price,
  rows,
  seatsPerRow,
});

export default function CreateConcertPage() {
  return (
    <AdminOnly next="/organiser/new">
      <CreateConcertForm />
    </AdminOnly>
  );
}

function CreateConcertForm() {
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const now = useMemo(() => new Date(), []);
  const [title, setTitle] = useState("");
  const [artist, setArtist] = useState("");
  const [genre, setGenre] = useState("rock");
  const [description, setDescription] = useState("");
  const [venueName, setVenueName] = useState("");
  const [city, setCity] = useState("");
  const [startsAt, setStartsAt] = useState(() => {
    const d = new Date(now.getTime() + 30 * 86_400_000);
    d.setHours(20, 0, 0, 0);
    return localInput(d);
  });
  const [onSaleAt, setOnSaleAt] = useState(() => localInput(now));
  const [currency, setCurrency] = useState("EUR");
  const [maxTickets, setMaxTickets] = useState("8");
  const [queueEnabled, setQueueEnabled] = useState(false);
  const [admitPerMinute, setAdmitPerMinute] = useState("600");
  const [maxActive, setMaxActive] = useState("2000");
  const [queueOpensAt, setQueueOpensAt] = useState("");
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

  const update = (key: number, patch: Partial<SectionDraft>) =>
    setSections((list) => list.map((s) => (s.key === key ? { ...s, ...patch } : s)));
  /** How one input of section `i` is wired: its id, the API's error for it, its draft value. */
  const sectionInput = (
    s: SectionDraft,
    i: number,
    draft: Exclude<keyof SectionDraft, "key">,
    idPart: string,
    apiField: keyof SectionCreate,
  ) => ({
    id: `s-${idPart}-${s.key}`,
    error: fields[`sections.${i}.${apiField}`],
    value: s[draft],
    onValue: (v: string) => update(s.key, { [draft]: v }),
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setLocalError(null);
    const starts = toIso(startsAt);
    const onSale = toIso(onSaleAt);
    if (!starts || !onSale)
      return setLocalError("Set when the concert starts and when it goes on sale.");
    if (onSale >= starts) return setLocalError("The on-sale must open before the concert starts.");
    if (totalSeats > MAX_SEATS)
      return setLocalError(`A venue has at most ${MAX_SEATS.toLocaleString()} seats.`);
    if (numbers.some((s) => !s.name || s.rows < 1 || s.seats_per_row < 1)) {
      return setLocalError("Every section needs a name, at least one row and one seat per row.");
    }
    create.mutate({
      title: title.trim(),
      artist: artist.trim(),
      genre: genre.trim(),
      description: description.trim(),
      venue: { name: venueName.trim(), city: city.trim() },
      starts_at: starts,
      on_sale_at: onSale,
      currency: currency.trim().toUpperCase(),
      max_tickets_per_user: Number(maxTickets),
      queue: queueSettings(queueEnabled, admitPerMinute, maxActive, queueOpensAt),
      sections: numbers,
    });
  };

  return (
    <form className="space-y-6" onSubmit={submit} noValidate>
      <h1 className="text-2xl font-bold">New concert</h1>
      <div className="card grid gap-4 sm:grid-cols-2">
        <InputField
          label="Title"
          id="c-title"
          error={fields.title}
          required
          maxLength={200}
          value={title}
          onValue={setTitle}
        />
        <InputField
          label="Artist"
          id="c-artist"
          error={fields.artist}
          required
          maxLength={200}
          value={artist}
          onValue={setArtist}
        />
        <InputField
          label="Genre"
          id="c-genre"
          error={fields.genre}
          required
          maxLength={50}
          value={genre}
          onValue={setGenre}
          list="genres"
        >
          <datalist id="genres">
            {GENRES.map((g) => (
              <option key={g} value={g} />
            ))}
          </datalist>
        </InputField>
        <div className="grid grid-cols-2 gap-3">
          <InputField
            label="Currency"
            id="c-currency"
            error={fields.currency}
            className="input uppercase"
            required
            maxLength={3}
            value={currency}
            onValue={setCurrency}
          />
          <InputField
            label="Tickets per buyer"
            id="c-max"
            error={fields.max_tickets_per_user}
            type="number"
            min={1}
            max={100}
            value={maxTickets}
            onValue={setMaxTickets}
          />
        </div>
        <InputField
          label="Venue"
          id="c-venue"
          error={fields["venue.name"]}
          required
          value={venueName}
          onValue={setVenueName}
        />
        <InputField
          label="City"
          id="c-city"
          error={fields["venue.city"]}
          required
          value={city}
          onValue={setCity}
        />
        <InputField
          label="Starts"
          id="c-starts"
          error={fields.starts_at}
          type="datetime-local"
          required
          value={startsAt}
          onValue={setStartsAt}
        />
        <InputField
          label="On sale from"
          id="c-onsale"
          error={fields.on_sale_at}
          type="datetime-local"
          required
          value={onSaleAt}
          onValue={setOnSaleAt}
        />
        <div className="sm:col-span-2">
          <Field label="Description" htmlFor="c-desc" error={fields.description}>
            <textarea
              id="c-desc"
              className="input"
              rows={3}
              maxLength={5000}
              value={description}
              onChange={(e) => setDescription(e.target.value)}
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
              <InputField
                label={`Section ${i + 1} name`}
                {...sectionInput(s, i, "name", "name", "name")}
              />
              <InputField
                label={`Price (${currency.toUpperCase() || "—"})`}
                {...sectionInput(s, i, "price", "price", "price_cents")}
                type="number"
                min={0}
                step="0.01"
              />
              <InputField
                label="Rows"
                {...sectionInput(s, i, "rows", "rows", "rows")}
                type="number"
                min={1}
                max={200}
              />
              <InputField
                label="Seats per row"
                {...sectionInput(s, i, "seatsPerRow", "seats", "seats_per_row")}
                type="number"
                min={1}
                max={500}
              />
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
              ` · from ${money(Math.min(...numbers.map((n) => n.price_cents)), currency.toUpperCase() || "EUR")}`}
          </p>
        </div>
        {preview ? (
          <SeatMap
            model={preview}
            selected={NO_SEATS}
            currency={currency.toUpperCase() || "EUR"}
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
        <label className="flex items-center gap-2 text-sm">
          <input
            type="checkbox"
            className="h-4 w-4"
            checked={queueEnabled}
            onChange={(e) => setQueueEnabled(e.target.checked)}
          />
          Put buyers in a waiting room (for on-sales with more buyers than seats)
        </label>
        {queueEnabled && (
          <QueueFields
            {...{
              admitPerMinute,
              setAdmitPerMinute,
              maxActive,
              setMaxActive,
              queueOpensAt,
              setQueueOpensAt,
              fields,
            }}
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

export function QueueFields({
  admitPerMinute,
  setAdmitPerMinute,
  maxActive,
  setMaxActive,
  queueOpensAt,
  setQueueOpensAt,
  fields,
}: {
  admitPerMinute: string;
  setAdmitPerMinute: (v: string) => void;
  maxActive: string;
  setMaxActive: (v: string) => void;
  queueOpensAt: string;
  setQueueOpensAt: (v: string) => void;
  fields: Record<string, string>;
}) {
  return (
    <div className="grid gap-4 sm:grid-cols-3">
      <InputField
        label="Let in per minute"
        id="q-rate"
        error={fields["queue.admit_per_minute"]}
        hint="Buyers admitted each minute."
        type="number"
        min={1}
        value={admitPerMinute}
        onValue={setAdmitPerMinute}
      />
      <InputField
        label="Shopping at once, at most"
        id="q-active"
        error={fields["queue.max_active"]}
        hint="Admitted buyers with a live pass."
        type="number"
        min={1}
        value={maxActive}
        onValue={setMaxActive}
      />
      <InputField
        label="Line opens (optional)"
        id="q-opens"
        error={fields["queue.opens_at"]}
        hint="Joining before this is refused."
        type="datetime-local"
        value={queueOpensAt}
        onValue={setQueueOpensAt}
      />
    </div>
  );
}

export { localInput, queueSettings };
