// The waiting room's proof-of-work check (docs/waiting-room.md, "Proof of work"): fetches a
// challenge from our API and lets the `altcha` web component solve it in a Web Worker while
// the fan reads the page, then hands the payload up. Used by the queue page and the lottery
// registration form.
//
// `altcha/external` is the build without inline styles or blob: workers, so it runs under the
// app's Content-Security-Policy (style-src 'self', workers from 'self'): its stylesheet is
// bundled with ours and its SHA worker is a file of the build (Vite's `?worker`).

import "altcha/external";
import "altcha/altcha.css";
import type {} from "altcha/types/react";
import ShaWorker from "altcha/workers/sha?worker";
import { useEffect, useRef, useState } from "react";
import type { AltchaChallenge as Challenge } from "../api/types";
import { api } from "../lib/api";
import { ErrorBox } from "./ui";

// The one algorithm our server issues (app/waiting_room/challenge.py).
if (!globalThis.$altcha.algorithms.has("SHA-256")) {
  globalThis.$altcha.algorithms.set("SHA-256", () => new ShaWorker());
}

export interface AltchaChallengeProps {
  concertId: string;
  /** The solved challenge: send it as `{"altcha": payload}`. Called once per solution. */
  onSolved: (payload: string) => void;
  /** The check could not be done (the challenge could not be fetched or solved). */
  onError?: (error: unknown) => void;
}

type Phase = "loading" | "solving" | "solved" | "error";

/** A solution is good once: a new `key` (or a new mount) fetches and solves a new challenge. */
export function AltchaChallenge({ concertId, onSolved, onError }: AltchaChallengeProps) {
  const widget = useRef<HTMLElementTagNameMap["altcha-widget"] | null>(null);
  const [phase, setPhase] = useState<Phase>("loading");
  const [error, setError] = useState<unknown>(null);
  const [attempt, setAttempt] = useState(0);
  const solved = useRef(onSolved);
  const failed = useRef(onError);
  solved.current = onSolved;
  failed.current = onError;

  // biome-ignore lint/correctness/useExhaustiveDependencies: `attempt` starts a fresh check
  useEffect(() => {
    const controller = new AbortController();
    let live = true;
    setPhase("loading");
    setError(null);
    const fail = (e: unknown) => {
      if (!live) return;
      setError(e);
      setPhase("error");
      failed.current?.(e);
    };
    (async () => {
      const challenge: Challenge = await api.queueChallenge(concertId, controller.signal);
      const el = widget.current;
      if (!live || !el) return;
      setPhase("solving");
      await el.configure({
        challenge: challenge as unknown as Parameters<typeof el.configure>[0]["challenge"],
        hideFooter: true,
        hideLogo: false,
        minDuration: 0,
        // A phone may take a while at a high difficulty: let it finish.
        timeout: 300_000,
        workers: Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)),
      });
      const result = await el.verify({ controller });
      if (!live) return;
      if (!result?.payload) throw new Error("The check did not finish; try again.");
      setPhase("solved");
      solved.current(result.payload);
    })().catch(fail);
    return () => {
      live = false;
      controller.abort();
    };
  }, [concertId, attempt]);

  // The widget says when its challenge expired (the fan waited too long): fetch a new one.
  useEffect(() => {
    const el = widget.current;
    if (!el) return;
    const expired = () => setAttempt((n) => n + 1);
    el.addEventListener("expired", expired);
    return () => el.removeEventListener("expired", expired);
  }, []);

  return (
    <div className="space-y-2" data-testid="altcha" data-phase={phase}>
      <p className="text-sm text-slate-600" aria-live="polite">
        {phase === "solved"
          ? "Your device passed the check."
          : phase === "error"
            ? "Your device could not do the check."
            : "Your device is doing a quick check against bots (a few seconds; keep reading)…"}
      </p>
      <altcha-widget ref={widget} type="checkbox" />
      {phase === "error" && <ErrorBox error={error} onRetry={() => setAttempt((n) => n + 1)} />}
    </div>
  );
}
