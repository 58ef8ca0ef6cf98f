import { useMemo } from "react";
import { timeZones } from "../lib/localTime";
import { Field } from "./ui";

/** A venue's IANA time zone, picked from every zone the browser knows. */
export function TimeZoneSelect({
  id,
  value,
  onValue,
  error,
  hint,
}: {
  id: string;
  value: string;
  onValue: (zone: string) => void;
  error?: string | undefined;
  hint?: string;
}) {
  const zones = useMemo(() => {
    const all = timeZones();
    return all.includes(value) ? all : [value, ...all];
  }, [value]);
  return (
    <Field label="Time zone" htmlFor={id} error={error} hint={hint}>
      <select id={id} className="input" value={value} onChange={(e) => onValue(e.target.value)}>
        {zones.map((z) => (
          <option key={z} value={z}>
            {z.replaceAll("_", " ")}
          </option>
        ))}
      </select>
    </Field>
  );
}
