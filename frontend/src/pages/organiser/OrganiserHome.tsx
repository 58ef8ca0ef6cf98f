import { useInfiniteQuery } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { ConcertBadge, Loaded } from "../../components/ui";
import { usePageTitle } from "../../components/usePageTitle";
import { api } from "../../lib/api";
import { dateTime } from "../../lib/format";
import { adminPage } from "./AdminOnly";

export default adminPage(ConcertTable, "Organiser");

function ConcertTable() {
  usePageTitle("Organiser");
  const query = useInfiniteQuery({
    queryKey: ["organiser", "concerts"],
    queryFn: ({ pageParam }) =>
      api.listConcerts({ limit: 50, ...(pageParam ? { cursor: pageParam } : {}) }),
    initialPageParam: "",
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  return (
    <div className="space-y-6">
      <div className="flex flex-wrap items-center justify-between gap-3">
        <div>
          <h1 className="text-2xl font-bold">Organiser</h1>
          <p className="text-slate-600">Create concerts, warm them up, follow the on-sale live.</p>
        </div>
        <Link to="/organiser/new" className="btn-primary">
          New concert
        </Link>
      </div>
      <Loaded query={query}>
        {(data) => (
          <div className="overflow-x-auto rounded-xl border border-slate-200 bg-white">
            <table className="w-full min-w-[640px] text-left text-sm">
              <thead className="bg-slate-50 text-xs uppercase text-slate-500">
                <tr>
                  <th className="px-4 py-2">Concert</th>
                  <th className="px-4 py-2">Starts</th>
                  <th className="px-4 py-2">On sale</th>
                  <th className="px-4 py-2">Status</th>
                  <th className="px-4 py-2 text-right">Available</th>
                </tr>
              </thead>
              <tbody className="divide-y divide-slate-100">
                {data.pages
                  .flatMap((p) => p.items)
                  .map((c) => (
                    <tr key={c.id} className="hover:bg-slate-50">
                      <td className="px-4 py-2">
                        <Link
                          className="font-medium text-brand-700 hover:underline"
                          to={`/organiser/concerts/${c.id}`}
                        >
                          {c.title}
                        </Link>
                        <span className="block text-xs text-slate-500">
                          {c.artist} · {c.venue.name}, {c.venue.city}
                        </span>
                      </td>
                      <td className="px-4 py-2">{dateTime(c.starts_at, c.venue.time_zone)}</td>
                      <td className="px-4 py-2">{dateTime(c.on_sale_at, c.venue.time_zone)}</td>
                      <td className="px-4 py-2">
                        <ConcertBadge status={c.status} />
                      </td>
                      <td className="px-4 py-2 text-right tabular-nums">
                        {c.seats_available.toLocaleString()} / {c.seats_total.toLocaleString()}
                      </td>
                    </tr>
                  ))}
              </tbody>
            </table>
            {query.hasNextPage && (
              <div className="p-3 text-center">
                <button
                  type="button"
                  className="btn-secondary"
                  onClick={() => query.fetchNextPage()}
                  disabled={query.isFetchingNextPage}
                >
                  Load more
                </button>
              </div>
            )}
          </div>
        )}
      </Loaded>
    </div>
  );
}
