import { useInfiniteQuery } from "@tanstack/react-query";
import { type FormEvent, useEffect, useMemo } from "react";
import { Link, useSearchParams } from "react-router-dom";
import type { ConcertQuery, ConcertSummary } from "../api/types";
import {
  CheckboxField,
  ConcertBadge,
  ErrorBox,
  GenreLabel,
  InputField,
  PageLoading,
  Spinner,
} from "../components/ui";
import { useDraft } from "../components/useDraft";
import { usePageTitle } from "../components/usePageTitle";
import { api } from "../lib/api";
import { dateTime, priceRange } from "../lib/format";
import { GENRES } from "../lib/genres";

const PAGE_SIZE = 12;

interface Filters {
  q: string;
  city: string;
  genre: string;
  date_from: string;
  date_to: string;
  /** Whole currency units; applied to the loaded results (the API has no price filter). */
  price_min: string;
  price_max: string;
  available: boolean;
}

function readFilters(params: URLSearchParams): Filters {
  return {
    q: params.get("q") ?? "",
    city: params.get("city") ?? "",
    genre: params.get("genre") ?? "",
    date_from: params.get("date_from") ?? "",
    date_to: params.get("date_to") ?? "",
    price_min: params.get("price_min") ?? "",
    price_max: params.get("price_max") ?? "",
    available: params.get("available") === "1",
  };
}

function matchesClientFilters(c: ConcertSummary, f: Filters): boolean {
  if (f.available && (c.seats_available <= 0 || c.status === "sold_out" || c.status === "ended")) {
    return false;
  }
  const min = f.price_min ? Number(f.price_min) * 100 : null;
  const max = f.price_max ? Number(f.price_max) * 100 : null;
  // A concert matches when some of its prices fall in the range.
  if (min !== null && Number.isFinite(min) && c.price_range.max_cents < min) return false;
  if (max !== null && Number.isFinite(max) && c.price_range.min_cents > max) return false;
  return true;
}

export function BrowsePage() {
  const [params, setParams] = useSearchParams();
  const applied = readFilters(params);
  const { draft, setDraft, patch, bind } = useDraft<Filters>(applied);
  const paramsKey = params.toString();
  usePageTitle("Concerts");

  // Back/forward: the form follows the URL.
  // biome-ignore lint/correctness/useExhaustiveDependencies: paramsKey stands for params
  useEffect(() => setDraft(readFilters(params)), [paramsKey]);

  const serverQuery: ConcertQuery = {
    q: applied.q.trim() || undefined,
    city: applied.city.trim() || undefined,
    genre: applied.genre || undefined,
    date_from: applied.date_from || undefined,
    date_to: applied.date_to || undefined,
  } as ConcertQuery;

  const query = useInfiniteQuery({
    queryKey: ["concerts", serverQuery],
    queryFn: ({ pageParam, signal }) =>
      api.listConcerts(
        { ...serverQuery, limit: PAGE_SIZE, ...(pageParam ? { cursor: pageParam } : {}) },
        signal,
      ),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });

  const all = useMemo(() => query.data?.pages.flatMap((p) => p.items) ?? [], [query.data]);
  const shown = all.filter((c) => matchesClientFilters(c, applied));

  const apply = (f: Filters) => {
    const next = new URLSearchParams();
    for (const [k, v] of Object.entries(f)) {
      if (k === "available") {
        if (v) next.set(k, "1");
      } else if (typeof v === "string" && v.trim()) next.set(k, v.trim());
    }
    setParams(next);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    apply(draft);
  };
  const hasFilters = paramsKey.length > 0;
  /** A price bound: whole currency units. */
  const priceInput = (key: "price_min" | "price_max") =>
    ({ type: "number", min: 0, inputMode: "numeric", ...bind(key) }) as const;

  return (
    <div className="space-y-6">
      <div>
        <h1 className="text-2xl font-bold sm:text-3xl">Concerts</h1>
        <p className="mt-1 text-slate-600">
          Find a show, pick your seats on a live map, pay in minutes.
        </p>
      </div>
      <form
        onSubmit={submit}
        className="card grid gap-3 sm:grid-cols-2 lg:grid-cols-4"
        aria-label="Find concerts"
      >
        <InputField
          label="Artist or title"
          id="f-q"
          fieldClassName="sm:col-span-2"
          type="search"
          placeholder="e.g. The Lanterns"
          {...bind("q")}
        />
        <InputField label="City" id="f-city" {...bind("city")} placeholder="Any city" />
        <div>
          <label className="label" htmlFor="f-genre">
            Genre
          </label>
          <select
            id="f-genre"
            className="input"
            value={draft.genre}
            onChange={(e) => patch({ genre: e.target.value })}
          >
            <option value="">Any genre</option>
            {GENRES.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </div>
        <InputField label="From" id="f-from" type="date" {...bind("date_from")} />
        <InputField label="To" id="f-to" type="date" {...bind("date_to")} />
        <div className="grid grid-cols-2 gap-2">
          <InputField label="Min price" id="f-pmin" {...priceInput("price_min")} />
          <InputField label="Max price" id="f-pmax" {...priceInput("price_max")} />
        </div>
        <div className="flex items-end">
          <CheckboxField
            className="flex items-center gap-2 pb-2 text-sm text-slate-700"
            inputClassName="h-4 w-4 rounded border-slate-300"
            checked={draft.available}
            onChecked={(available) => patch({ available })}
          >
            Only with seats left
          </CheckboxField>
        </div>
        <div className="flex gap-2 sm:col-span-2 lg:col-span-4">
          <button type="submit" className="btn-primary">
            Search
          </button>
          {hasFilters && (
            <button
              type="button"
              className="btn-secondary"
              onClick={() => {
                setParams(new URLSearchParams());
              }}
            >
              Clear filters
            </button>
          )}
        </div>
      </form>

      {query.isPending ? (
        <PageLoading label="Loading concerts" />
      ) : query.isError && !query.data ? (
        <ErrorBox error={query.error} onRetry={() => query.refetch()} />
      ) : (
        <section aria-label="Results" aria-busy={query.isFetching}>
          {shown.length === 0 ? (
            <div className="card text-center text-slate-600">
              <p className="font-medium">No concerts match.</p>
              {hasFilters && <p className="mt-1 text-sm">Try fewer filters.</p>}
            </div>
          ) : (
            <ul className="grid gap-4 sm:grid-cols-2 lg:grid-cols-3" data-testid="concert-list">
              {shown.map((c) => (
                <ConcertCard key={c.id} concert={c} />
              ))}
            </ul>
          )}
          <div className="mt-6 flex flex-col items-center gap-2">
            {query.hasNextPage ? (
              <button
                type="button"
                className="btn-secondary"
                disabled={query.isFetchingNextPage}
                onClick={() => query.fetchNextPage()}
              >
                {query.isFetchingNextPage ? <Spinner label="Loading more" /> : "Load more concerts"}
              </button>
            ) : (
              all.length > 0 && <p className="text-sm text-slate-500">That's all of them.</p>
            )}
            {query.isError && (
              <ErrorBox error={query.error} onRetry={() => void query.fetchNextPage()} />
            )}
            {(applied.price_min || applied.price_max || applied.available) &&
              shown.length < all.length && (
                <p className="text-xs text-slate-500">
                  Price and availability filters hide {all.length - shown.length} of {all.length}{" "}
                  loaded concerts.
                </p>
              )}
          </div>
        </section>
      )}
    </div>
  );
}

function ConcertCard({ concert: c }: { concert: ConcertSummary }) {
  const fraction = c.seats_total ? c.seats_available / c.seats_total : 0;
  return (
    <li>
      <Link
        to={`/concerts/${c.id}`}
        className="card block h-full transition hover:border-brand-500 hover:shadow-md focus:outline-none focus-visible:ring-2 focus-visible:ring-brand-500"
      >
        <div className="flex items-start justify-between gap-2">
          <GenreLabel genre={c.genre} />
          <ConcertBadge status={c.status} />
        </div>
        <h2 className="mt-2 text-lg font-semibold leading-tight">{c.title}</h2>
        <p className="text-slate-700">{c.artist}</p>
        <p className="mt-2 text-sm text-slate-600">
          {c.venue.name}, {c.venue.city}
        </p>
        <p className="text-sm text-slate-600">{dateTime(c.starts_at, c.venue.time_zone)}</p>
        <div className="mt-3 flex items-center justify-between text-sm">
          <span className="font-semibold">
            {priceRange(c.price_range.min_cents, c.price_range.max_cents, c.currency)}
          </span>
          <span className="text-slate-500">{c.seats_available.toLocaleString()} left</span>
        </div>
        <div className="mt-2 h-1.5 overflow-hidden rounded-full bg-slate-100" aria-hidden="true">
          <div
            className="h-full bg-emerald-500"
            style={{ width: `${Math.round(fraction * 100)}%` }}
          />
        </div>
      </Link>
    </li>
  );
}
