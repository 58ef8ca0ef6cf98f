import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useMemo, useState } from "react";
import { useNavigate } from "react-router-dom";
import { fieldErrors } from "../../api/errors";
import type { ConcertCreate } from "../../api/types";
import { ErrorBox, Field, Notice } from "../../components/ui";
import { api } from "../../lib/api";
import { money } from "../../lib/format";
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
    const opens = toIso(queueOpensAt);
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
      queue: {
        enabled: queueEnabled,
        admit_per_minute: Number(admitPerMinute),
        max_active: Number(maxActive),
        ...(opens ? { opens_at: opens } : {}),
      },
      sections: numbers,
    });
  };

  return (
    <form className="space-y-6" onSubmit={submit} noValidate>
      <h1 className="text-2xl font-bold">New concert</h1>
      <div className="card grid gap-4 sm:grid-cols-2">
        <Field label="Title" htmlFor="c-title" error={fields.title}>
          <input
            id="c-title"
            className="input"
            required
            maxLength={200}
            value={title}
            onChange={(e) => setTitle(e.target.value)}
          />
        </Field>
        <Field label="Artist" htmlFor="c-artist" error={fields.artist}>
          <input
            id="c-artist"
            className="input"
            required
            maxLength={200}
            value={artist}
            onChange={(e) => setArtist(e.target.value)}
          />
        </Field>
        <Field label="Genre" htmlFor="c-genre" error={fields.genre}>
          <input
            id="c-genre"
            className="input"
            required
            maxLength={50}
            value={genre}
            onChange={(e) => setGenre(e.target.value)}
            list="genres"
          />
          <datalist id="genres">
            {["rock", "pop", "jazz", "classical", "electronic", "hip-hop", "folk", "metal"].map(
              (g) => (
                <option key={g} value={g} />
              ),
            )}
          </datalist>
        </Field>
        <div className="grid grid-cols-2 gap-3">
          <Field label="Currency" htmlFor="c-currency" error={fields.currency}>
            <input
              id="c-currency"
              className="input uppercase"
              required
              maxLength={3}
              value={currency}
              onChange={(e) => setCurrency(e.target.value)}
            />
          </Field>
          <Field label="Tickets per buyer" htmlFor="c-max" error={fields.max_tickets_per_user}>
            <input
              id="c-max"
              className="input"
              type="number"
              min={1}
              max={100}
              value={maxTickets}
              onChange={(e) => setMaxTickets(e.target.value)}
            />
          </Field>
        </div>
        <Field label="Venue" htmlFor="c-venue" error={fields["venue.name"]}>
          <input
            id="c-venue"
            className="input"
            required
            value={venueName}
            onChange={(e) => setVenueName(e.target.value)}
          />
        </Field>
        <Field label="City" htmlFor="c-city" error={fields["venue.city"]}>
          <input
            id="c-city"
            className="input"
            required
            value={city}
            onChange={(e) => setCity(e.target.value)}
          />
        </Field>
        <Field label="Starts" htmlFor="c-starts" error={fields.starts_at}>
          <input
            id="c-starts"
            className="input"
            type="datetime-local"
            required
            value={startsAt}
            onChange={(e) => setStartsAt(e.target.value)}
          />
        </Field>
        <Field label="On sale from" htmlFor="c-onsale" error={fields.on_sale_at}>
          <input
            id="c-onsale"
            className="input"
            type="datetime-local"
            required
            value={onSaleAt}
            onChange={(e) => setOnSaleAt(e.target.value)}
          />
        </Field>
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
              <Field
                label={`Section ${i + 1} name`}
                htmlFor={`s-name-${s.key}`}
                error={fields[`sections.${i}.name`]}
              >
                <input
                  id={`s-name-${s.key}`}
                  className="input"
                  value={s.name}
                  onChange={(e) => update(s.key, { name: e.target.value })}
                />
              </Field>
              <Field
                label={`Price (${currency.toUpperCase() || "—"})`}
                htmlFor={`s-price-${s.key}`}
                error={fields[`sections.${i}.price_cents`]}
              >
                <input
                  id={`s-price-${s.key}`}
                  className="input"
                  type="number"
                  min={0}
                  step="0.01"
                  value={s.price}
                  onChange={(e) => update(s.key, { price: e.target.value })}
                />
              </Field>
              <Field label="Rows" htmlFor={`s-rows-${s.key}`} error={fields[`sections.${i}.rows`]}>
                <input
                  id={`s-rows-${s.key}`}
                  className="input"
                  type="number"
                  min={1}
                  max={200}
                  value={s.rows}
                  onChange={(e) => update(s.key, { rows: e.target.value })}
                />
              </Field>
              <Field
                label="Seats per row"
                htmlFor={`s-seats-${s.key}`}
                error={fields[`sections.${i}.seats_per_row`]}
              >
                <input
                  id={`s-seats-${s.key}`}
                  className="input"
                  type="number"
                  min={1}
                  max={500}
                  value={s.seatsPerRow}
                  onChange={(e) => update(s.key, { seatsPerRow: e.target.value })}
                />
              </Field>
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
      <Field
        label="Let in per minute"
        htmlFor="q-rate"
        error={fields["queue.admit_per_minute"]}
        hint="Buyers admitted each minute."
      >
        <input
          id="q-rate"
          className="input"
          type="number"
          min={1}
          value={admitPerMinute}
          onChange={(e) => setAdmitPerMinute(e.target.value)}
        />
      </Field>
      <Field
        label="Shopping at once, at most"
        htmlFor="q-active"
        error={fields["queue.max_active"]}
        hint="Admitted buyers with a live pass."
      >
        <input
          id="q-active"
          className="input"
          type="number"
          min={1}
          value={maxActive}
          onChange={(e) => setMaxActive(e.target.value)}
        />
      </Field>
      <Field
        label="Line opens (optional)"
        htmlFor="q-opens"
        error={fields["queue.opens_at"]}
        hint="Joining before this is refused."
      >
        <input
          id="q-opens"
          className="input"
          type="datetime-local"
          value={queueOpensAt}
          onChange={(e) => setQueueOpensAt(e.target.value)}
        />
      </Field>
    </div>
  );
}

export { localInput, toIso };
