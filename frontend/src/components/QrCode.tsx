import { useMemo } from "react";
import { encode } from "uqr";

/** A QR code of `value` as an SVG (one path; no canvas, no inline script or style). */
export function QrCode({
  value,
  size = 208,
  label,
}: {
  value: string;
  size?: number;
  label: string;
}) {
  const { path, dim } = useMemo(() => {
    const qr = encode(value, { ecc: "M", border: 2 });
    let d = "";
    qr.data.forEach((row, y) => {
      row.forEach((on, x) => {
        if (on) d += `M${x} ${y}h1v1h-1z`;
      });
    });
    return { path: d, dim: qr.size };
  }, [value]);
  return (
    <svg
      role="img"
      aria-label={label}
      data-testid="ticket-qr"
      width={size}
      height={size}
      viewBox={`0 0 ${dim} ${dim}`}
      shapeRendering="crispEdges"
      className="rounded bg-white"
    >
      <rect width={dim} height={dim} fill="#fff" />
      <path d={path} fill="#000" />
    </svg>
  );
}
