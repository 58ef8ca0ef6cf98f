// The phone's back camera as a QR code reader: the browser's BarcodeDetector where it reads QR
// codes, else jsQR (loaded on first use, so only the door page pays for it). Frames are read
// every 200 ms; `onCode` gets every code read (the caller drops repeats).

import { type RefObject, useCallback, useEffect, useRef, useState } from "react";

export type CameraState =
  | { status: "off" }
  | { status: "starting" }
  | { status: "on"; decoder: "BarcodeDetector" | "jsQR" }
  | { status: "failed"; message: string };

const FRAME_MS = 200;

interface Detector {
  detect(source: CanvasImageSource): Promise<{ rawValue: string }[]>;
}

interface DetectorClass {
  new (options: { formats: string[] }): Detector;
  getSupportedFormats(): Promise<string[]>;
}

type Reader = (video: HTMLVideoElement) => Promise<string | null>;

async function nativeReader(): Promise<Reader | null> {
  const Native = (globalThis as { BarcodeDetector?: DetectorClass }).BarcodeDetector;
  if (!Native) return null;
  try {
    if (!(await Native.getSupportedFormats()).includes("qr_code")) return null;
    const detector = new Native({ formats: ["qr_code"] });
    return async (video) => (await detector.detect(video))[0]?.rawValue ?? null;
  } catch {
    return null;
  }
}

async function jsQrReader(): Promise<Reader> {
  const { default: jsQR } = await import("jsqr");
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  return async (video) => {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!ctx || !w || !h) return null;
    // A phone's 1080p frame is more than a QR code needs and slow to scan: at most 800 px.
    const scale = Math.min(1, 800 / Math.max(w, h));
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const found = jsQR(image.data, image.width, image.height, { inversionAttempts: "attemptBoth" });
    return found?.data || null;
  };
}

/** Why the camera can't be used, in the door person's words. */
export function cameraProblem(error: unknown): string {
  const name = error instanceof DOMException ? error.name : "";
  if (name === "NotAllowedError" || name === "SecurityError") {
    return "The camera is blocked for this site. Allow it in the browser's site settings and tap “Start camera”, or type the codes below.";
  }
  if (name === "NotFoundError" || name === "OverconstrainedError") {
    return "This device has no camera we can use. Type the codes below.";
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return "The camera is in use by another app. Close it and tap “Start camera”, or type the codes below.";
  }
  return "The camera could not be started. Tap “Start camera” to try again, or type the codes below.";
}

export function useQrCamera(
  video: RefObject<HTMLVideoElement | null>,
  onCode: (code: string) => void,
): { state: CameraState; start: () => void; stop: () => void } {
  const [state, setState] = useState<CameraState>({ status: "off" });
  const stream = useRef<MediaStream | null>(null);
  const timer = useRef<number | null>(null);
  const run = useRef(0);
  const latest = useRef(onCode);
  latest.current = onCode;

  const stop = useCallback(() => {
    run.current += 1;
    if (timer.current !== null) window.clearTimeout(timer.current);
    timer.current = null;
    for (const track of stream.current?.getTracks() ?? []) track.stop();
    stream.current = null;
    if (video.current) video.current.srcObject = null;
    setState({ status: "off" });
  }, [video]);

  const start = useCallback(() => {
    stop();
    const mine = run.current;
    setState({ status: "starting" });
    void (async () => {
      try {
        if (!navigator.mediaDevices?.getUserMedia) {
          throw new DOMException("no camera API", "NotFoundError");
        }
        const media = await navigator.mediaDevices.getUserMedia({
          video: { facingMode: "environment" },
          audio: false,
        });
        if (run.current !== mine) {
          for (const track of media.getTracks()) track.stop();
          return;
        }
        stream.current = media;
        const el = video.current;
        if (!el) return;
        el.srcObject = media;
        await el.play().catch(() => undefined);
        const native = await nativeReader();
        const read = native ?? (await jsQrReader());
        if (run.current !== mine) return;
        setState({ status: "on", decoder: native ? "BarcodeDetector" : "jsQR" });
        const tick = async () => {
          if (run.current !== mine) return;
          try {
            if (el.readyState >= 2) {
              const code = await read(el);
              if (code && run.current === mine) latest.current(code);
            }
          } catch {
            // A frame that could not be read: the next one will be.
          }
          if (run.current === mine) timer.current = window.setTimeout(tick, FRAME_MS);
        };
        void tick();
      } catch (error) {
        if (run.current !== mine) return;
        for (const track of stream.current?.getTracks() ?? []) track.stop();
        stream.current = null;
        console.warn("Camera unavailable:", error);
        setState({ status: "failed", message: cameraProblem(error) });
      }
    })();
  }, [stop, video]);

  useEffect(() => {
    start();
    return stop;
  }, [start, stop]);

  return { state, start, stop };
}
