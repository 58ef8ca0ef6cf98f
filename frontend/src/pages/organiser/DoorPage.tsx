import { useQuery } from "@tanstack/react-query";
import { type FormEvent, useCallback, useRef, useState } from "react";
import { Link, useParams } from "react-router-dom";
import type { Concert } from "../../api/types";
import { Loaded } from "../../components/ui";
import { usePageTitle } from "../../components/usePageTitle";
import {
  admitted,
  clockTime,
  headline,
  RepeatFilter,
  refused,
  type ScanResult,
} from "../../door/scan";
import { useQrCamera } from "../../door/useQrCamera";
import { api } from "../../lib/api";
import { adminPage } from "./AdminOnly";

export default adminPage(Door, "Door");

function Door() {
  const { concertId = "" } = useParams();
  const concert = useQuery({
    queryKey: ["concert", concertId],
    queryFn: () => api.getConcert(concertId),
  });
  usePageTitle(concert.data ? `${concert.data.title} · Door` : "Door");
  return (
    <Loaded query={concert} label="Loading the concert">
      {(c) => <DoorView concert={c} />}
    </Loaded>
  );
}

/** People admitted from this device, kept for the tab's life (a reload keeps it). The API
 * gives no concert-wide count: other doors' admissions are not in it. */
function useAdmittedCount(concertId: string): [number, () => void] {
  const key = `encore.door.admitted.${concertId}`;
  const [count, setCount] = useState(() => {
    try {
      return Number(sessionStorage.getItem(key)) || 0;
    } catch {
      return 0;
    }
  });
  const add = useCallback(() => {
    setCount((n) => {
      try {
        sessionStorage.setItem(key, String(n + 1));
      } catch {
        // Private mode: the count lasts as long as the page.
      }
      return n + 1;
    });
  }, [key]);
  return [count, add];
}

function DoorView({ concert }: { concert: Concert }) {
  const [result, setResult] = useState<ScanResult | null>(null);
  const [scans, setScans] = useState(0);
  const [busy, setBusy] = useState(false);
  const [manual, setManual] = useState("");
  const [count, addAdmitted] = useAdmittedCount(concert.id);
  const inFlight = useRef(false);
  const repeats = useRef(new RepeatFilter(4000));
  const video = useRef<HTMLVideoElement>(null);
  const panel = useRef<HTMLDivElement>(null);

  const scan = useCallback(
    async (raw: string) => {
      const code = raw.trim();
      if (!code || inFlight.current) return false;
      inFlight.current = true;
      setBusy(true);
      let next: ScanResult;
      try {
        next = admitted(await api.checkIn(concert.id, code));
        addAdmitted();
      } catch (error) {
        next = refused(error);
      }
      inFlight.current = false;
      setBusy(false);
      setResult(next);
      setScans((n) => n + 1);
      navigator.vibrate?.(next.kind === "admitted" ? 80 : [200, 100, 200]);
      return true;
    },
    [concert.id, addAdmitted],
  );

  const onCameraCode = useCallback(
    (code: string) => {
      if (inFlight.current || !repeats.current.accept(code, Date.now())) return;
      void scan(code);
    },
    [scan],
  );
  const camera = useQrCamera(video, onCameraCode);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await scan(manual)) {
      setManual("");
      // The phone's keyboard may have pushed the answer out of sight.
      panel.current?.scrollIntoView({ block: "center", behavior: "smooth" });
    }
  };

  return (
    <div className="mx-auto max-w-md space-y-4">
      <div className="min-w-0">
        <Link to={`/organiser/concerts/${concert.id}`} className="text-sm text-brand-700">
          ← On-sale view
        </Link>
        <h1 className="mt-1 break-words text-xl font-bold">Door · {concert.title}</h1>
        <p className="text-sm text-slate-600">
          {concert.venue.name}, {concert.venue.city}
        </p>
      </div>

      <div ref={panel}>
        <ResultPanel result={result} scans={scans} busy={busy} timeZone={concert.venue.time_zone} />
      </div>

      <p className="flex items-baseline justify-between gap-2 rounded-lg bg-slate-100 px-4 py-3">
        <span className="text-sm text-slate-700">
          People in <span className="text-xs text-slate-500">(admitted on this device)</span>
        </span>
        <span className="text-3xl font-bold tabular-nums" data-testid="door-count">
          {count}
        </span>
      </p>

      <section aria-label="Camera" className="space-y-2">
        <div className="relative overflow-hidden rounded-xl bg-slate-900">
          <video
            ref={video}
            className="aspect-[4/3] w-full object-cover"
            muted
            playsInline
            aria-label="Camera view: hold a ticket's QR code in the frame"
            data-testid="door-video"
          />
          {camera.state.status !== "on" && (
            <div className="absolute inset-0 flex items-center justify-center p-4 text-center text-sm text-white">
              {camera.state.status === "starting"
                ? "Starting the camera…"
                : camera.state.status === "failed"
                  ? camera.state.message
                  : "The camera is off."}
            </div>
          )}
        </div>
        <div className="flex items-center justify-between gap-2">
          <span className="text-xs text-slate-500" data-testid="door-camera">
            {camera.state.status === "on"
              ? `Camera on: hold a QR code in the frame (${camera.state.decoder})`
              : camera.state.status === "failed"
                ? "Camera unavailable"
                : ""}
          </span>
          {camera.state.status === "on" ? (
            <button type="button" className="btn-secondary min-h-12 px-4" onClick={camera.stop}>
              Stop camera
            </button>
          ) : (
            <button type="button" className="btn-secondary min-h-12 px-4" onClick={camera.start}>
              Start camera
            </button>
          )}
        </div>
      </section>

      <form onSubmit={submit} className="space-y-2" aria-label="Type a code">
        <label className="label" htmlFor="door-code">
          Ticket code (if the QR code will not scan)
        </label>
        <input
          id="door-code"
          className="input min-h-12 w-full min-w-0"
          value={manual}
          onChange={(e) => setManual(e.target.value)}
          autoComplete="off"
          autoCapitalize="off"
          autoCorrect="off"
          spellCheck={false}
          enterKeyHint="go"
        />
        <button
          type="submit"
          className="btn-primary min-h-14 w-full text-lg"
          disabled={busy || !manual.trim()}
        >
          {busy ? "Checking…" : "Check in"}
        </button>
      </form>
    </div>
  );
}

const LOOK: Record<ScanResult["kind"], { box: string; icon: string }> = {
  admitted: { box: "bg-emerald-600 text-white", icon: "✓" },
  already_in: { box: "bg-amber-400 text-slate-900", icon: "!" },
  revoked: { box: "bg-rose-700 text-white", icon: "✕" },
  invalid: { box: "bg-rose-700 text-white", icon: "✕" },
  error: { box: "bg-slate-700 text-white", icon: "?" },
};

function ResultPanel({
  result,
  scans,
  busy,
  timeZone,
}: {
  result: ScanResult | null;
  scans: number;
  busy: boolean;
  timeZone: string;
}) {
  const look = result ? LOOK[result.kind] : { box: "bg-slate-200 text-slate-700", icon: "…" };
  const words = result ? headline(result, (iso) => clockTime(iso, timeZone)) : "Ready to scan";
  const detail =
    result === null
      ? "Point the camera at a ticket's QR code, or type its code below."
      : result.kind === "admitted"
        ? [result.seat, result.holder].filter(Boolean).join(" · ")
        : result.detail;
  return (
    <section
      aria-live="assertive"
      aria-atomic="true"
      aria-busy={busy}
      data-testid="door-result"
      data-kind={result?.kind ?? "ready"}
      data-scan={scans}
      className={`flex min-h-40 items-center gap-4 rounded-2xl p-5 ${look.box}`}
    >
      <span aria-hidden="true" className="shrink-0 text-6xl font-black leading-none">
        {look.icon}
      </span>
      <div className="min-w-0">
        <p className="break-words text-3xl font-extrabold leading-tight">{words}</p>
        <p className="mt-1 break-words text-base">{detail}</p>
      </div>
    </section>
  );
}
