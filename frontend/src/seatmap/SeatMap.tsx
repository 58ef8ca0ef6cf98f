import {
  type KeyboardEvent,
  type PointerEvent,
  useCallback,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
} from "react";
import { money } from "../lib/format";
import type { LiveSeats } from "./live";
import { type Direction, type SeatMapModel, statusName } from "./model";
import { COLORS, maxCellSize, SeatMapRenderer, tierColor } from "./render";

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

export interface SeatMapProps {
  model: SeatMapModel;
  live?: LiveSeats | null | undefined;
  selected: ReadonlySet<number>;
  /** Without it the map can be explored but not picked from. */
  onToggle?: ((seat: number) => void) | undefined;
  currency: string;
  label: string;
}

/** The seat map on a canvas: drawn once, then only changed seats are redrawn. Pointer and
 * keyboard (arrows, Home/End, Page Up/Down, Enter or Space to pick, N for the next free seat,
 * + and - to zoom). */
/** `seatmap:drawn`: the first time the map shows live seat states (bench/page.py times it). */
function markDrawn() {
  if (performance.getEntriesByName("seatmap:drawn").length === 0) performance.mark("seatmap:drawn");
}

export function SeatMap({ model, live, selected, onToggle, currency, label }: SeatMapProps) {
  const scrollRef = useRef<HTMLDivElement>(null);
  const canvasRef = useRef<HTMLCanvasElement>(null);
  const rendererRef = useRef<SeatMapRenderer | null>(null);
  const drawnSelection = useRef<ReadonlySet<number>>(new Set());
  /** Where the middle of the view was before a zoom, as fractions of the map. */
  const zoomAnchor = useRef<{ fx: number; fy: number } | null>(null);
  const [fitCell, setFitCell] = useState(8);
  const [zoom, setZoom] = useState(1);
  const [cell, setCell] = useState(8);
  const [cursor, setCursor] = useState(-1);
  const [focused, setFocused] = useState(false);
  const [hover, setHover] = useState<{ seat: number; x: number; y: number } | null>(null);
  const [announcement, setAnnouncement] = useState("");
  const dpr = typeof window !== "undefined" ? Math.min(window.devicePixelRatio || 1, 2) : 1;

  // The cell size that fits the width, following the container's size.
  useLayoutEffect(() => {
    const el = scrollRef.current;
    if (!el) return;
    const measure = () => {
      const width = el.clientWidth || 600;
      setFitCell(Math.max(2, Math.min(28, Math.floor(width / model.width))));
    };
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, [model]);

  // (Re)create the renderer for a model; size and draw it.
  useLayoutEffect(() => {
    const canvas = canvasRef.current;
    if (!canvas) return;
    const renderer = new SeatMapRenderer(canvas, model);
    // The selection as of now; later changes are drawn incrementally below.
    renderer.selected = drawnSelection.current;
    rendererRef.current = renderer;
    const target = Math.round(fitCell * zoom);
    renderer.resize(target, dpr);
    setCell(renderer.cell);
    // Zooming keeps the middle of the view where it was.
    const el = scrollRef.current;
    const anchor = zoomAnchor.current;
    zoomAnchor.current = null;
    if (el && anchor) {
      el.scrollLeft = anchor.fx * canvas.clientWidth - el.clientWidth / 2;
      el.scrollTop = anchor.fy * canvas.clientHeight - el.clientHeight / 2;
    }
    return () => {
      rendererRef.current = null;
    };
  }, [model, fitCell, zoom, dpr]);

  // Selection changes: redraw just the seats that entered or left it.
  useEffect(() => {
    const renderer = rendererRef.current;
    if (!renderer) return;
    const before = drawnSelection.current;
    const dirty: number[] = [];
    for (const i of before) if (!selected.has(i)) dirty.push(i);
    for (const i of selected) if (!before.has(i)) dirty.push(i);
    renderer.selected = selected;
    drawnSelection.current = new Set(selected);
    renderer.drawSeats(dirty);
  }, [selected]);

  // Live availability: a snapshot redraws everything, a change only its seats.
  useEffect(() => {
    if (!live) return;
    return live.subscribe((update) => {
      const renderer = rendererRef.current;
      if (!renderer) return;
      if (update === "all") {
        renderer.drawAll();
        markDrawn();
      } else renderer.drawSeats(update);
    });
  }, [live]);

  const describe = useCallback(
    (i: number) => {
      const d = model.describe(i);
      const status = statusName(model.status[i] ?? 0);
      const picked = selected.has(i) ? "selected" : STATUS_WORDS[status];
      return `${d.section}, row ${d.row}, seat ${d.number}: ${picked}, ${money(d.priceCents, currency)}`;
    },
    [model, selected, currency],
  );

  const moveCursor = useCallback(
    (next: number) => {
      if (next < 0) return;
      setCursor(next);
      setAnnouncement(describe(next));
    },
    [describe],
  );

  const toggle = useCallback(
    (i: number) => {
      if (!onToggle || i < 0) return;
      if (selected.has(i) || model.isAvailable(i)) {
        onToggle(i);
        setAnnouncement(`${selected.has(i) ? "Removed" : "Selected"} ${model.label(i)}`);
      } else {
        setAnnouncement(`${model.label(i)} is ${STATUS_WORDS[statusName(model.status[i] ?? 0)]}`);
      }
    },
    [onToggle, selected, model],
  );

  const rememberCenter = useCallback(() => {
    const el = scrollRef.current;
    const canvas = canvasRef.current;
    if (!el || !canvas?.clientWidth || !canvas.clientHeight) return;
    zoomAnchor.current = {
      fx: (el.scrollLeft + el.clientWidth / 2) / canvas.clientWidth,
      fy: (el.scrollTop + el.clientHeight / 2) / canvas.clientHeight,
    };
  }, []);

  const zoomBy = useCallback(
    (factor: number) => {
      rememberCenter();
      setZoom((z) => {
        const max = maxCellSize(model, dpr) / Math.max(1, fitCell);
        return Math.max(1, Math.min(z * factor, Math.max(1, max)));
      });
    },
    [model, dpr, fitCell, rememberCenter],
  );

  const onKeyDown = (e: KeyboardEvent<HTMLCanvasElement>) => {
    const direction = KEYS[e.key];
    if (direction) {
      e.preventDefault();
      moveCursor(cursor < 0 ? Math.max(0, model.nextAvailable(-1)) : model.move(cursor, direction));
    } else if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      if (cursor >= 0) toggle(cursor);
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
    }
  };

  const seatFromPointer = (e: PointerEvent<HTMLCanvasElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    const x = Math.floor((e.clientX - rect.left) / cell);
    const y = Math.floor((e.clientY - rect.top) / cell);
    return model.seatAt(x, y);
  };

  const onPointerMove = (e: PointerEvent<HTMLCanvasElement>) => {
    const seat = seatFromPointer(e);
    if (seat < 0) {
      setHover(null);
      return;
    }
    setHover({ seat, x: model.seatX[seat] as number, y: model.seatY[seat] as number });
  };

  const onPointerUp = (e: PointerEvent<HTMLCanvasElement>) => {
    if (e.button !== 0) return;
    const seat = seatFromPointer(e);
    if (seat < 0) return;
    setCursor(seat);
    toggle(seat);
  };

  const onFocus = () => {
    setFocused(true);
    if (cursor < 0 && model.count) moveCursor(Math.max(0, model.nextAvailable(-1)));
  };

  // Keep the keyboard cursor in view when it moves.
  const cursorRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (focused && cursor >= 0)
      cursorRef.current?.scrollIntoView({ block: "nearest", inline: "nearest" });
  }, [cursor, focused]);

  const hoverInfo = hover ? model.describe(hover.seat) : null;
  const hoverStatus = hover ? statusName(model.status[hover.seat] ?? 0) : null;

  return (
    <div>
      <div className="mb-2 flex flex-wrap items-center justify-between gap-2">
        <p className="text-xs text-slate-500" id="seatmap-help">
          {onToggle
            ? "Click a coloured seat to pick it. Keyboard: Tab to the map, arrows to move, Enter to pick, N for the next free seat."
            : "Arrows move between seats; + and − zoom."}
        </p>
        <fieldset className="flex items-center gap-1">
          <legend className="sr-only">Zoom</legend>
          <button
            type="button"
            className="btn-secondary px-3 py-1"
            onClick={() => zoomBy(1 / 1.5)}
            aria-label="Zoom out"
          >
            −
          </button>
          <button
            type="button"
            className="btn-secondary px-3 py-1"
            onClick={() => {
              rememberCenter();
              setZoom(1);
            }}
            aria-label="Fit to width"
          >
            Fit
          </button>
          <button
            type="button"
            className="btn-secondary px-3 py-1"
            onClick={() => zoomBy(1.5)}
            aria-label="Zoom in"
          >
            +
          </button>
        </fieldset>
      </div>
      <div
        ref={scrollRef}
        className="relative max-h-[70vh] overflow-auto rounded-lg border border-slate-200 bg-white text-center"
      >
        <div className="relative inline-block text-left align-top">
          {/* biome-ignore lint/a11y/noInteractiveElementToNoninteractiveRole: a canvas widget driven by its own keyboard handling */}
          <canvas
            ref={canvasRef}
            data-testid="seat-map"
            data-cell={cell}
            tabIndex={0}
            role="application"
            aria-roledescription="seat map"
            aria-label={label}
            aria-describedby="seatmap-help"
            className={`block touch-manipulation outline-none ${onToggle ? "cursor-pointer" : ""}`}
            onKeyDown={onKeyDown}
            onPointerMove={onPointerMove}
            onPointerLeave={() => setHover(null)}
            onPointerUp={onPointerUp}
            onFocus={onFocus}
            onBlur={() => setFocused(false)}
          />
          {focused && cursor >= 0 && (
            <div
              ref={cursorRef}
              aria-hidden="true"
              data-testid="seat-cursor"
              data-seat-id={model.ids[cursor]}
              className="pointer-events-none absolute rounded-sm ring-2 ring-brand-600 ring-offset-1"
              style={{
                left: (model.seatX[cursor] as number) * cell - 1,
                top: (model.seatY[cursor] as number) * cell - 1,
                width: cell + 2,
                height: cell + 2,
              }}
            />
          )}
          {hover && hoverInfo && (
            <div
              aria-hidden="true"
              className="pointer-events-none absolute z-10 whitespace-nowrap rounded-md bg-slate-900 px-2 py-1 text-xs text-white shadow-lg"
              style={{ left: (hover.x + 1) * cell + 6, top: Math.max(0, hover.y * cell - 30) }}
            >
              {hoverInfo.section} · Row {hoverInfo.row} · Seat {hoverInfo.number} ·{" "}
              {money(hoverInfo.priceCents, currency)}
              {hoverStatus !== "available" &&
                !selected.has(hover.seat) &&
                ` · ${STATUS_WORDS[hoverStatus ?? "unknown"]}`}
            </div>
          )}
        </div>
      </div>
      <p className="sr-only" aria-live="polite" data-testid="seat-announcement">
        {announcement}
      </p>
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
  return (
    <div className="space-y-3 text-sm">
      <ul className="flex flex-wrap gap-x-4 gap-y-2" aria-label="Price tiers">
        {model.sections.map((s) => (
          <li key={s.id} className="flex items-center gap-2">
            <Swatch color={tierColor(s.index)} />
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
          <Swatch color={tierColor(0)} /> Available{" "}
          <b data-testid="count-available">{counts.available.toLocaleString()}</b>
        </li>
        {selectedCount !== undefined && (
          <li className="flex items-center gap-2">
            <Swatch color={COLORS.selected} /> Your pick <b>{selectedCount}</b>
          </li>
        )}
        <li className="flex items-center gap-2">
          <Swatch color={COLORS.held} /> Held{" "}
          <b data-testid="count-held">{counts.held.toLocaleString()}</b>
        </li>
        <li className="flex items-center gap-2">
          <Swatch color={COLORS.sold} /> Sold{" "}
          <b data-testid="count-sold">{counts.sold.toLocaleString()}</b>
        </li>
        <li className="flex items-center gap-2">
          <Swatch color={COLORS.notForSale} /> Not for sale
        </li>
      </ul>
    </div>
  );
}

function Swatch({ color }: { color: string }) {
  return (
    <span
      aria-hidden="true"
      className="inline-block h-3.5 w-3.5 rounded-sm border border-black/10"
      style={{ backgroundColor: color }}
    />
  );
}
