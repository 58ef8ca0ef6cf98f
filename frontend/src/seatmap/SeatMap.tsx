import {
  type CSSProperties,
  type KeyboardEvent,
  type PointerEvent,
  type ReactNode,
  useCallback,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
} from "react";
import { money } from "../lib/format";
import type { LiveSeats } from "./live";
import {
  type Camera,
  clampCamera,
  type Direction,
  fitCamera,
  hitTest,
  isOverview,
  MOUSE_SIZES,
  type SeatMapModel,
  type Sizes,
  seatOnScreen,
  sectionCamera,
  sectionInView,
  showSeat,
  statusName,
  TOUCH_SIZES,
  toGrid,
  type Viewport,
  zoomAt,
} from "./model";
import { COLORS, SeatMapRenderer, TIER_COLORS, tierColor } from "./render";

const KEYS: Record<string, Direction> = {
  ArrowLeft: "left",
  ArrowRight: "right",
  ArrowUp: "up",
  ArrowDown: "down",
  Home: "home",
  End: "end",
  PageUp: "pageup",
  PageDown: "pagedown",
};

const STATUS_WORDS = {
  available: "available",
  held: "held by someone",
  sold: "sold",
  not_for_sale: "not for sale",
  unknown: "loading",
} as const;

/** A drag shorter than this (CSS px) is a tap or a click. */
const TAP_SLOP = { touch: 10, mouse: 4 };
/** Live changes redraw the map at most this often (ms); pan and zoom redraw every frame. */
const LIVE_REDRAW_MS = 100;
const ANIMATION_MS = 240;

/** True on a touch screen (the primary pointer is coarse): tap sizes, no keyboard hints. */
export function useCoarsePointer(): boolean {
  const query = "(pointer: coarse)";
  const [coarse, setCoarse] = useState(
    () => typeof window !== "undefined" && !!window.matchMedia?.(query).matches,
  );
  useEffect(() => {
    const list = window.matchMedia?.(query);
    if (!list) return;
    const update = () => setCoarse(list.matches);
    update();
    list.addEventListener("change", update);
    return () => list.removeEventListener("change", update);
  }, []);
  return coarse;
}

function prefersReducedMotion(): boolean {
  return !!window.matchMedia?.("(prefers-reduced-motion: reduce)").matches;
}

/** The map's box: the full width; tall enough for the whole map at fit, and when the map
 * starts as the sections overview, tall enough to show a section's seats. */
function mapHeight(model: SeatMapModel, width: number, sizes: Sizes): number {
  const screen = typeof window !== "undefined" ? window.innerHeight || 800 : 800;
  const fit = Math.min(width / model.width, sizes.fitMax);
  let height = Math.min(model.height * fit, screen * 0.7);
  if (fit < sizes.pick) {
    const tallest = Math.max(0, ...model.sections.map((b) => b.h));
    height = Math.max(height, Math.min(screen * 0.6, 520, tallest * sizes.section));
  }
  return Math.round(Math.max(height, 160));
}

/** The minimap's size: at most 96 x 120 px and a quarter of the map's width, the map's shape. */
function minimapSize(model: SeatMapModel, vp: Viewport): { width: number; height: number } {
  let width = Math.min(96, Math.max(48, vp.width * 0.25));
  let height = (width * model.height) / model.width;
  if (height > 120) {
    height = 120;
    width = (height * model.width) / model.height;
  }
  return { width: Math.round(width), height: Math.round(Math.max(24, height)) };
}

export interface SeatMapProps {
  model: SeatMapModel;
  live?: LiveSeats | null | undefined;
  selected: ReadonlySet<number>;
  /** Without it the map can be explored but not picked from. */
  onToggle?: ((seat: number) => void) | undefined;
  currency: string;
  label: string;
}

interface Gesture {
  pointers: Map<number, { x: number; y: number }>;
  startX: number;
  startY: number;
  start: Camera;
  moved: boolean;
  pinch: { distance: number; mx: number; my: number; start: Camera } | null;
}

/** The seat map on a canvas the width of its box. A big venue starts as the sections overview
 * (each section a block with its price and live figures); a tap or click on a section zooms
 * into it, "All sections" goes back. Wheel and pinch zoom, drag pans. Keyboard: arrows,
 * Home/End, Page Up/Down, Enter or Space to pick, N for the next free seat, + and - to zoom;
 * the view follows the keyboard cursor. */
/** Marks `seatmap:drawn` the first time the map shows live seat states (bench/page.py times
 * the page by it). */
function markDrawn(model: SeatMapModel): void {
  if (model.version >= 0 && performance.getEntriesByName("seatmap:drawn").length === 0) {
    performance.mark("seatmap:drawn");
  }
}

export function SeatMap({ model, live, selected, onToggle, currency, label }: SeatMapProps) {
  const boxRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const rendererRef = useRef<SeatMapRenderer | null>(null);
  const coarse = useCoarsePointer();
  const sizes = coarse ? TOUCH_SIZES : MOUSE_SIZES;
  const [vp, setVp] = useState<Viewport>({ width: 0, height: 0 });
  const [camera, setCameraState] = useState<Camera | null>(null);
  const cameraRef = useRef<Camera | null>(null);
  const animation = useRef(0);
  const gesture = useRef<Gesture | null>(null);
  const pointerFocus = useRef(false);
  const [cursor, setCursor] = useState(-1);
  const [focused, setFocused] = useState(false);
  const [hover, setHover] = useState<{
    seat: number;
    section: number;
    x: number;
    y: number;
  } | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const [feedback, setFeedback] = useState<{ text: string; key: number } | null>(null);
  const dpr = typeof window !== "undefined" ? Math.min(window.devicePixelRatio || 1, 2) : 1;

  const setCamera = useCallback((next: Camera) => {
    cameraRef.current = next;
    setCameraState(next);
  }, []);

  // The box's size, following the page.
  useLayoutEffect(() => {
    const el = boxRef.current;
    if (!el) return;
    const measure = () => {
      const width = el.clientWidth || 600;
      setVp((v) => {
        const height = mapHeight(model, width, sizes);
        return v.width === width && v.height === height ? v : { width, height };
      });
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [model, sizes]);

  // A new model or box: start from the whole map (or keep a zoomed view on screen).
  const fittedFor = useRef<{ model: SeatMapModel; sizes: Sizes } | null>(null);
  useLayoutEffect(() => {
    if (!vp.width) return;
    const before = cameraRef.current;
    const same = fittedFor.current?.model === model && fittedFor.current.sizes === sizes;
    fittedFor.current = { model, sizes };
    if (!before || !same) setCamera(fitCamera(model, vp, sizes));
    else setCamera(clampCamera(model, before, vp, sizes));
  }, [model, vp, sizes, setCamera]);

  const drawn = useRef({ sizes, selected, currency });
  drawn.current = { sizes, selected, currency };

  // The renderer, per model, sized with the box (a resize clears the canvas: drawn again).
  useLayoutEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas || !vp.width) return;
    const r = new SeatMapRenderer(canvas, model);
    rendererRef.current = r;
    r.resize(vp.width, vp.height, dpr);
    const cam = cameraRef.current;
    if (cam) {
      r.camera = cam;
      r.sizes = drawn.current.sizes;
      r.selected = drawn.current.selected;
      r.currency = drawn.current.currency;
      r.draw();
      markDrawn(model);
    }
    return () => {
      rendererRef.current = null;
    };
  }, [model, vp, dpr]);

  /** Draw the map, and the minimap when it shows. */
  const miniRef = useRef<HTMLCanvasElement>(null);
  const paint = useCallback(() => {
    const r = rendererRef.current;
    if (!r) return;
    r.draw();
    markDrawn(r.model);
    const mini = miniRef.current;
    if (mini) {
      const w = mini.clientWidth;
      const h = mini.clientHeight;
      const px = Math.round(w * r.pixelRatio);
      if (mini.width !== px) mini.width = px;
      if (mini.height !== Math.round(h * r.pixelRatio)) mini.height = Math.round(h * r.pixelRatio);
      r.drawMinimap(mini, w, h, vpRef.current);
    }
  }, []);
  const vpRef = useRef(vp);
  vpRef.current = vp;

  // Draw on every view or selection change.
  useLayoutEffect(() => {
    const r = rendererRef.current;
    if (!r || !camera) return;
    r.camera = camera;
    r.sizes = sizes;
    r.selected = selected;
    r.currency = currency;
    paint();
  }, [camera, sizes, selected, currency, paint]);

  // Live availability: redrawn at most every LIVE_REDRAW_MS, only the part in view.
  const [, setLiveTick] = useState(0);
  useEffect(() => {
    if (!live) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    let first = true;
    const redraw = () => {
      timer = null;
      rendererRef.current?.invalidate();
      paint();
      setLiveTick((t) => t + 1); // the tooltip and the breadcrumb's figures
    };
    const off = live.subscribe(() => {
      if (timer) return;
      if (first)
        redraw(); // the first live states at once
      else timer = setTimeout(redraw, LIVE_REDRAW_MS);
      first = false;
    });
    return () => {
      off();
      if (timer) clearTimeout(timer);
    };
  }, [live, paint]);

  useEffect(() => () => cancelAnimationFrame(animation.current), []);

  /** Move the view to `target`, animated (the grid point in the middle and the zoom). */
  const animateTo = useCallback(
    (target: Camera) => {
      cancelAnimationFrame(animation.current);
      const from = cameraRef.current;
      if (!from || prefersReducedMotion()) {
        setCamera(target);
        return;
      }
      const [fx, fy] = toGrid(from, vp.width / 2, vp.height / 2);
      const [tx, ty] = toGrid(target, vp.width / 2, vp.height / 2);
      const started = performance.now();
      const step = (now: number) => {
        const t = Math.min(1, (now - started) / ANIMATION_MS);
        const e = t < 1 ? 1 - (1 - t) ** 3 : 1;
        if (t >= 1) {
          setCamera(target);
          return;
        }
        const scale = from.scale * (target.scale / from.scale) ** e;
        const gx = fx + (tx - fx) * e;
        const gy = fy + (ty - fy) * e;
        setCamera({ scale, x: vp.width / 2 - gx * scale, y: vp.height / 2 - gy * scale });
        animation.current = requestAnimationFrame(step);
      };
      animation.current = requestAnimationFrame(step);
    },
    [vp, setCamera],
  );

  const describe = useCallback(
    (i: number) => {
      const d = model.describe(i);
      const status = statusName(model.status[i] ?? 0);
      const picked = selected.has(i) ? "selected" : STATUS_WORDS[status];
      return `${d.section}, row ${d.row}, seat ${d.number}: ${picked}, ${money(d.priceCents, currency)}`;
    },
    [model, selected, currency],
  );

  const sectionWords = useCallback(
    (section: number) => {
      const box = model.sections[section];
      if (!box) return "";
      const sum = model.sectionSummary(section);
      return `${box.name}, ${money(box.priceCents, currency)}: ${sum.available.toLocaleString()} seats free, ${sum.held.toLocaleString()} held`;
    },
    [model, currency],
  );

  const follow = useCallback(
    (seat: number) => {
      const cam = cameraRef.current;
      if (!cam || !vp.width) return;
      const next = showSeat(model, cam, seat, vp, sizes);
      if (next.scale !== cam.scale || next.x !== cam.x || next.y !== cam.y) {
        cancelAnimationFrame(animation.current);
        setCamera(next);
      }
    },
    [model, vp, sizes, setCamera],
  );

  const moveCursor = useCallback(
    (next: number) => {
      if (next < 0) return;
      setCursor(next);
      setAnnouncement(describe(next));
      follow(next);
    },
    [describe, follow],
  );

  const say = useCallback((text: string) => {
    setAnnouncement(text);
    setFeedback((f) => ({ text, key: (f?.key ?? 0) + 1 }));
  }, []);

  useEffect(() => {
    if (!feedback) return;
    const timer = setTimeout(() => setFeedback(null), 2600);
    return () => clearTimeout(timer);
  }, [feedback]);

  const toggle = useCallback(
    (i: number, fromPointer: boolean) => {
      if (i < 0) return;
      if (!onToggle) {
        if (fromPointer) say(describe(i));
        return;
      }
      if (selected.has(i) || model.isAvailable(i)) {
        onToggle(i);
        setAnnouncement(`${selected.has(i) ? "Removed" : "Selected"} ${model.label(i)}`);
        setFeedback(null);
      } else {
        const words = STATUS_WORDS[statusName(model.status[i] ?? 0)];
        const text = `${model.label(i)} is ${words}. Pick a seat in colour.`;
        if (fromPointer) say(text);
        else setAnnouncement(text);
      }
    },
    [onToggle, selected, model, describe, say],
  );

  const zoomInto = useCallback(
    (section: number) => {
      if (!vp.width) return;
      animateTo(sectionCamera(model, section, vp, sizes));
      setHover(null);
      setAnnouncement(
        `${sectionWords(section)}. ${coarse ? "Tap" : "Click"} a seat to pick it; All sections goes back.`,
      );
    },
    [model, vp, sizes, animateTo, sectionWords, coarse],
  );

  const showAll = useCallback(() => {
    if (!vp.width) return;
    animateTo(fitCamera(model, vp, sizes));
    setAnnouncement("All sections");
  }, [model, vp, sizes, animateTo]);

  const zoomBy = useCallback(
    (factor: number) => {
      const cam = cameraRef.current;
      if (!cam || !vp.width) return;
      animateTo(zoomAt(model, cam, factor, vp.width / 2, vp.height / 2, vp, sizes));
    },
    [model, vp, sizes, animateTo],
  );

  // Wheel zoom (a native listener: React's is passive). Zooming out past the whole map
  // scrolls the page instead.
  useEffect(() => {
    const el = canvasRef.current;
    if (!el) return;
    const onWheel = (e: WheelEvent) => {
      const cam = cameraRef.current;
      if (!cam || !vp.width) return;
      const fit = fitCamera(model, vp, sizes).scale;
      // A small venue's map zooms with ctrl + wheel (a trackpad pinch) only: the wheel
      // scrolls the page past it. Out of the whole map, the wheel scrolls the page too.
      if (!e.ctrlKey && fit >= sizes.pick) return;
      if (e.deltaY > 0 && cam.scale <= fit + 1e-6) return;
      e.preventDefault();
      cancelAnimationFrame(animation.current);
      const rect = el.getBoundingClientRect();
      const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? 400 : 1;
      const factor = Math.exp(-e.deltaY * unit * (e.ctrlKey ? 0.01 : 0.0025));
      setCamera(zoomAt(model, cam, factor, e.clientX - rect.left, e.clientY - rect.top, vp, sizes));
    };
    el.addEventListener("wheel", onWheel, { passive: false });
    return () => el.removeEventListener("wheel", onWheel);
  }, [model, vp, sizes, setCamera]);

  const hasOverview = !!vp.width && fitCamera(model, vp, sizes).scale < sizes.pick;
  const overview = !!camera && isOverview(camera, sizes);
  const zoomed = !!camera && !!vp.width && camera.scale > fitCamera(model, vp, sizes).scale + 1e-6;
  const inView = camera && vp.width ? sectionInView(model, camera, vp) : -1;
  const mini = minimapSize(model, vp);
  const cursorBox =
    focused && !pointerFocus.current && cursor >= 0 && camera
      ? seatOnScreen(model, camera, cursor)
      : null;

  const onKeyDown = (e: KeyboardEvent<HTMLCanvasElement>) => {
    pointerFocus.current = false; // the keyboard is in use: show its cursor
    const direction = KEYS[e.key];
    if (direction) {
      e.preventDefault();
      moveCursor(cursor < 0 ? Math.max(0, model.nextAvailable(-1)) : model.move(cursor, direction));
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      if (cursor >= 0) toggle(cursor, false);
    } else if (e.key === "n" || e.key === "N") {
      e.preventDefault();
      const next = model.nextAvailable(cursor);
      if (next >= 0) moveCursor(next);
      else setAnnouncement("No seat is available");
    } else if (e.key === "+" || e.key === "=") {
      e.preventDefault();
      zoomBy(1.5);
    } else if (e.key === "-") {
      e.preventDefault();
      zoomBy(1 / 1.5);
    } else if (e.key === "Escape" && zoomed) {
      e.preventDefault();
      showAll();
    }
  };

  const local = (e: PointerEvent<HTMLCanvasElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    return { x: e.clientX - rect.left, y: e.clientY - rect.top };
  };

  const onPointerDown = (e: PointerEvent<HTMLCanvasElement>) => {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    pointerFocus.current = true;
    const cam = cameraRef.current;
    if (!cam) return;
    cancelAnimationFrame(animation.current);
    e.currentTarget.setPointerCapture?.(e.pointerId);
    const p = local(e);
    const g = gesture.current;
    if (!g) {
      gesture.current = {
        pointers: new Map([[e.pointerId, p]]),
        startX: p.x,
        startY: p.y,
        start: cam,
        moved: false,
        pinch: null,
      };
      return;
    }
    g.pointers.set(e.pointerId, p);
    if (g.pointers.size === 2) {
      const [a, b] = [...g.pointers.values()] as [
        { x: number; y: number },
        { x: number; y: number },
      ];
      g.moved = true; // a pinch is never a tap
      g.pinch = {
        distance: Math.max(1, Math.hypot(a.x - b.x, a.y - b.y)),
        mx: (a.x + b.x) / 2,
        my: (a.y + b.y) / 2,
        start: cam,
      };
    }
  };

  const onPointerMove = (e: PointerEvent<HTMLCanvasElement>) => {
    const p = local(e);
    const g = gesture.current;
    if (g?.pointers.has(e.pointerId)) {
      g.pointers.set(e.pointerId, p);
      if (g.pinch && g.pointers.size >= 2) {
        const [a, b] = [...g.pointers.values()] as [
          { x: number; y: number },
          { x: number; y: number },
        ];
        const { distance, mx, my, start } = g.pinch;
        const nx = (a.x + b.x) / 2;
        const ny = (a.y + b.y) / 2;
        const factor = Math.hypot(a.x - b.x, a.y - b.y) / distance;
        const zoomed = zoomAt(model, start, factor, mx, my, vp, sizes);
        setCamera(
          clampCamera(
            model,
            { ...zoomed, x: zoomed.x + nx - mx, y: zoomed.y + ny - my },
            vp,
            sizes,
          ),
        );
        return;
      }
      const dx = p.x - g.startX;
      const dy = p.y - g.startY;
      const slop = e.pointerType === "mouse" ? TAP_SLOP.mouse : TAP_SLOP.touch;
      if (!g.moved && Math.hypot(dx, dy) > slop) g.moved = true;
      if (g.moved && !g.pinch) {
        setHover(null);
        setCamera(
          clampCamera(model, { ...g.start, x: g.start.x + dx, y: g.start.y + dy }, vp, sizes),
        );
      }
      return;
    }
    if (e.pointerType !== "mouse") return;
    const cam = cameraRef.current;
    if (!cam) return;
    const hit = hitTest(model, cam, p.x, p.y, sizes);
    if (!hit) setHover(null);
    else if (hit.kind === "seat") setHover({ seat: hit.seat, section: -1, x: p.x, y: p.y });
    else setHover({ seat: -1, section: hit.section, x: p.x, y: p.y });
  };

  const endPointer = (e: PointerEvent<HTMLCanvasElement>, cancelled: boolean) => {
    const g = gesture.current;
    if (!g?.pointers.has(e.pointerId)) return;
    g.pointers.delete(e.pointerId);
    if (g.pointers.size > 0) {
      // One finger of a pinch lifted: the other pans from here.
      const [rest] = [...g.pointers.values()];
      const cam = cameraRef.current;
      if (rest && cam) {
        g.pinch = null;
        g.startX = rest.x;
        g.startY = rest.y;
        g.start = cam;
      }
      return;
    }
    gesture.current = null;
    if (cancelled || g.moved) return;
    const cam = cameraRef.current;
    if (!cam) return;
    const p = local(e);
    const hit = hitTest(model, cam, p.x, p.y, sizes);
    if (!hit) return;
    if (hit.kind === "section") zoomInto(hit.section);
    else {
      setCursor(hit.seat);
      toggle(hit.seat, true);
    }
  };

  const onFocus = () => {
    setFocused(true);
    // Keyboard focus shows the cursor (and zooms to it); a tap or click picks by itself.
    if (pointerFocus.current) return;
    if (cursor < 0 && model.count) moveCursor(Math.max(0, model.nextAvailable(-1)));
    else if (cursor >= 0) follow(cursor);
  };

  const look = coarse
    ? "Pinch or drag to look around."
    : hasOverview
      ? "Scroll to zoom, drag to move."
      : "Ctrl + scroll to zoom, drag to move.";
  const help = onToggle
    ? coarse
      ? `${hasOverview ? "Tap a section to zoom in, then tap a seat in colour to pick it." : "Tap a seat in colour to pick it."} ${look}`
      : `${hasOverview ? "Click a section to zoom in, then click a seat in colour to pick it." : "Click a seat in colour to pick it."} ${look} Keyboard: Tab to the map, arrows to move, Enter to pick, N for the next free seat.`
    : `${hasOverview ? `${coarse ? "Tap" : "Click"} a section to zoom in. ` : ""}${look}${coarse ? "" : " Keyboard: arrows move between seats; + and − zoom."}`;

  return (
    <div>
      <div className="mb-2 flex flex-wrap items-center justify-between gap-2">
        <nav
          aria-label="Seat map position"
          className="flex min-h-9 items-center gap-1 text-sm"
          data-testid="seatmap-breadcrumb"
        >
          {hasOverview || zoomed ? (
            <>
              {zoomed ? (
                <button
                  type="button"
                  className="btn-secondary min-h-9 px-3 py-1"
                  onClick={showAll}
                  data-testid="seatmap-all"
                >
                  ← All sections
                </button>
              ) : (
                <span className="font-semibold text-slate-800">All sections</span>
              )}
              {zoomed && inView >= 0 && (
                <>
                  <span aria-hidden="true" className="text-slate-400">
                    ›
                  </span>
                  <span className="font-semibold" style={{ color: tierColor(inView) }}>
                    {model.sections[inView]?.name}
                  </span>
                </>
              )}
            </>
          ) : null}
        </nav>
        <fieldset className="flex items-center gap-1">
          <legend className="sr-only">Zoom</legend>
          <button
            type="button"
            className="btn-secondary min-h-9 px-3 py-1"
            onClick={() => zoomBy(1 / 1.5)}
            aria-label="Zoom out"
          >
            −
          </button>
          <button
            type="button"
            className="btn-secondary min-h-9 px-3 py-1"
            onClick={showAll}
            aria-label="Show the whole map"
          >
            Fit
          </button>
          <button
            type="button"
            className="btn-secondary min-h-9 px-3 py-1"
            onClick={() => zoomBy(1.5)}
            aria-label="Zoom in"
          >
            +
          </button>
        </fieldset>
      </div>
      <p className="mb-2 text-xs text-slate-500" id="seatmap-help" data-testid="seatmap-help">
        {help}
      </p>
      <div
        ref={boxRef}
        className="relative w-full overflow-hidden rounded-lg border border-slate-200 bg-white"
        style={{ height: vp.height || undefined }}
      >
        {/* biome-ignore lint/a11y/noInteractiveElementToNoninteractiveRole: a canvas widget driven by its own keyboard handling */}
        <canvas
          ref={canvasRef}
          data-testid="seat-map"
          data-cell={camera ? camera.scale.toFixed(2) : undefined}
          data-view={overview ? "overview" : "seats"}
          data-section={zoomed && inView >= 0 ? model.sections[inView]?.id : undefined}
          tabIndex={0}
          role="application"
          aria-roledescription="seat map"
          aria-label={label}
          aria-describedby="seatmap-help"
          className={`block select-none outline-none focus-visible:ring-2 focus-visible:ring-brand-500 ${onToggle || overview ? "cursor-pointer" : ""}`}
          style={{ touchAction: zoomed ? "none" : "pan-y" }}
          onKeyDown={onKeyDown}
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerLeave={() => setHover(null)}
          onPointerUp={(e) => endPointer(e, false)}
          onPointerCancel={(e) => endPointer(e, true)}
          onContextMenu={(e) => e.preventDefault()}
          onFocus={onFocus}
          onBlur={() => {
            setFocused(false);
            pointerFocus.current = false;
          }}
        />
        {cursorBox && (
          <div
            aria-hidden="true"
            data-testid="seat-cursor"
            data-seat-id={model.idOf(cursor)}
            className="pointer-events-none absolute rounded-sm ring-2 ring-brand-600 ring-offset-1"
            style={{
              left: cursorBox.left - 1,
              top: cursorBox.top - 1,
              width: cursorBox.size + 2,
              height: cursorBox.size + 2,
            }}
          />
        )}
        {hover && camera && (
          <Tooltip
            anchor={
              hover.seat >= 0
                ? seatOnScreen(model, camera, hover.seat)
                : { left: hover.x, top: hover.y, size: 1 }
            }
            box={vp}
          >
            {hover.seat >= 0 ? (
              <SeatTip
                model={model}
                seat={hover.seat}
                selected={selected.has(hover.seat)}
                currency={currency}
              />
            ) : (
              `${sectionWords(hover.section)} · click to zoom in`
            )}
          </Tooltip>
        )}
        {zoomed && hasOverview && camera && (
          <button
            type="button"
            className="absolute right-2 top-2 overflow-hidden rounded-md border border-slate-300 bg-white p-0 shadow-md"
            style={{ width: mini.width, height: mini.height }}
            aria-label="Minimap: back to all sections"
            data-testid="seatmap-minimap"
            onClick={(e) => {
              if (e.detail === 0) {
                showAll(); // the keyboard: the way back
                return;
              }
              const rect = e.currentTarget.getBoundingClientRect();
              const k = Math.min(mini.width / model.width, mini.height / model.height);
              const gx = (e.clientX - rect.left - (mini.width - model.width * k) / 2) / k;
              const gy = (e.clientY - rect.top - (mini.height - model.height * k) / 2) / k;
              animateTo(
                clampCamera(
                  model,
                  {
                    scale: camera.scale,
                    x: vp.width / 2 - gx * camera.scale,
                    y: vp.height / 2 - gy * camera.scale,
                  },
                  vp,
                  sizes,
                ),
              );
            }}
          >
            <canvas
              ref={miniRef}
              className="block"
              style={{ width: mini.width, height: mini.height }}
            />
          </button>
        )}
        {feedback && (
          <div
            key={feedback.key}
            aria-hidden="true"
            data-testid="seat-feedback"
            className="pointer-events-none absolute inset-x-2 top-2 mx-auto w-fit max-w-[calc(100%-1rem)] rounded-md bg-slate-900 px-3 py-2 text-center text-sm text-white shadow-lg"
          >
            {feedback.text}
          </div>
        )}
      </div>
      <p className="sr-only" aria-live="polite" data-testid="seat-announcement">
        {announcement}
      </p>
    </div>
  );
}

function SeatTip({
  model,
  seat,
  selected,
  currency,
}: {
  model: SeatMapModel;
  seat: number;
  selected: boolean;
  currency: string;
}) {
  const d = model.describe(seat);
  const status = statusName(model.status[seat] ?? 0);
  return (
    <>
      {d.section} · Row {d.row} · Seat {d.number} · {money(d.priceCents, currency)}
      {status !== "available" && !selected && ` · ${STATUS_WORDS[status]}`}
    </>
  );
}

/** A tooltip beside its anchor, kept inside the map's box: on the side with more room. */
function Tooltip({
  anchor,
  box,
  children,
}: {
  anchor: { left: number; top: number; size: number };
  box: Viewport;
  children: ReactNode;
}) {
  const right = anchor.left + anchor.size / 2 > box.width / 2;
  const below = anchor.top < 40;
  const style: CSSProperties = right
    ? {
        right: Math.max(4, box.width - anchor.left + 6),
        maxWidth: Math.max(120, anchor.left - 10),
      }
    : {
        left: Math.max(4, anchor.left + anchor.size + 6),
        maxWidth: Math.max(120, box.width - anchor.left - anchor.size - 10),
      };
  style.top = below
    ? Math.min(anchor.top + anchor.size + 6, box.height - 40)
    : Math.max(4, anchor.top - 30);
  return (
    <div
      aria-hidden="true"
      data-testid="seat-tooltip"
      className="pointer-events-none absolute z-10 rounded-md bg-slate-900 px-2 py-1 text-xs text-white shadow-lg"
      style={style}
    >
      {children}
    </div>
  );
}

export function Legend({
  model,
  currency,
  counts,
  selectedCount,
}: {
  model: SeatMapModel;
  currency: string;
  counts: { available: number; held: number; sold: number };
  selectedCount?: number;
}) {
  const tiers = Math.min(model.sections.length, TIER_COLORS.length);
  return (
    <div className="space-y-3 text-sm">
      <ul className="flex flex-wrap gap-x-4 gap-y-2" aria-label="Sections and prices">
        {model.sections.map((s) => (
          <li key={s.id} className="flex items-center gap-2" data-testid="legend-section">
            <Swatch kind="available" color={tierColor(s.index)} />
            <span>
              {s.name} <span className="text-slate-500">{money(s.priceCents, currency)}</span>
            </span>
          </li>
        ))}
      </ul>
      <ul
        className="flex flex-wrap gap-x-4 gap-y-2 text-slate-700"
        aria-label="Seat states"
        data-testid="seat-counts"
      >
        <li className="flex items-center gap-2">
          <Swatch
            kind="available"
            color={tierColor(0)}
            colors={Array.from({ length: Math.max(1, tiers) }, (_, k) => tierColor(k))}
          />{" "}
          Available <b data-testid="count-available">{counts.available.toLocaleString()}</b>
        </li>
        {selectedCount !== undefined && (
          <li className="flex items-center gap-2">
            <Swatch kind="selected" color={COLORS.selected} /> Your pick <b>{selectedCount}</b>
          </li>
        )}
        <li className="flex items-center gap-2">
          <Swatch kind="held" color={COLORS.held} /> Held{" "}
          <b data-testid="count-held">{counts.held.toLocaleString()}</b>
        </li>
        <li className="flex items-center gap-2">
          <Swatch kind="sold" color={COLORS.sold} /> Sold{" "}
          <b data-testid="count-sold">{counts.sold.toLocaleString()}</b>
        </li>
        <li className="flex items-center gap-2">
          <Swatch kind="notForSale" color={COLORS.notForSale} /> Not for sale
        </li>
      </ul>
    </div>
  );
}

/** A seat as the map draws it: the same fill and the same mark. `colors` splits an available
 * seat into its sections' colours (the "Available" entry). */
function Swatch({
  kind,
  color,
  colors,
}: {
  kind: "available" | "selected" | "held" | "sold" | "notForSale";
  color: string;
  colors?: string[];
}) {
  const stripes = colors && colors.length > 1 ? colors : null;
  return (
    <svg aria-hidden="true" width="16" height="16" viewBox="0 0 16 16" className="shrink-0">
      <defs>
        <clipPath id="swatch-seat">
          <rect x="1" y="1" width="14" height="14" rx="3.5" />
        </clipPath>
      </defs>
      {kind === "notForSale" ? (
        <rect x="1.5" y="1.5" width="13" height="13" rx="3" fill="none" stroke={color} />
      ) : stripes ? (
        <g clipPath="url(#swatch-seat)">
          {stripes.map((c, k) => (
            <rect
              key={c}
              x={1 + (14 * k) / stripes.length}
              y="1"
              width={14 / stripes.length + 0.5}
              height="14"
              fill={c}
            />
          ))}
        </g>
      ) : (
        <rect x="1" y="1" width="14" height="14" rx="3.5" fill={color} />
      )}
      {kind === "held" && (
        <path
          d="M4.5 11.5 L11.5 4.5"
          stroke={COLORS.heldMark}
          strokeWidth="1.6"
          strokeLinecap="round"
        />
      )}
      {kind === "sold" && (
        <path
          d="M5 5 L11 11 M11 5 L5 11"
          stroke={COLORS.soldMark}
          strokeWidth="1.6"
          strokeLinecap="round"
        />
      )}
      {kind === "selected" && (
        <path
          d="M4.3 8.3 L6.9 10.9 L11.8 5.3"
          fill="none"
          stroke="#ffffff"
          strokeWidth="1.8"
          strokeLinecap="round"
          strokeLinejoin="round"
        />
      )}
    </svg>
  );
}
