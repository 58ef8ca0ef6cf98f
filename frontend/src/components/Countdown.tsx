import { clock } from "../lib/format";
import { useSecondsLeft } from "./useNow";

/** A visible countdown with a bar: green, then amber in the last minute, red at the end. */
export function Countdown({
  until,
  totalSeconds,
  label,
}: {
  until: string;
  totalSeconds: number;
  label: string;
}) {
  const left = useSecondsLeft(until) ?? 0;
  const fraction = Math.max(0, Math.min(1, left / Math.max(1, totalSeconds)));
  const tone = left === 0 ? "bg-rose-500" : left <= 60 ? "bg-amber-500" : "bg-emerald-500";
  return (
    <div className="rounded-lg border border-slate-200 bg-white p-3" data-testid="countdown">
      <div className="flex items-baseline justify-between gap-2">
        <span className="text-sm text-slate-600">{label}</span>
        <span
          className={`font-mono text-2xl font-bold tabular-nums ${left <= 60 ? "text-rose-700" : "text-slate-900"}`}
          role="timer"
          aria-live="off"
          aria-label={`${Math.floor(left / 60)} minutes ${left % 60} seconds left`}
        >
          {clock(left)}
        </span>
      </div>
      <div className="mt-2 h-2 overflow-hidden rounded-full bg-slate-100" aria-hidden="true">
        <div
          className={`h-full ${tone} transition-all duration-1000`}
          style={{ width: `${fraction * 100}%` }}
        />
      </div>
    </div>
  );
}
