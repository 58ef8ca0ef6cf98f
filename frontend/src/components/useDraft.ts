import { useState } from "react";

/** The keys of `T` whose values are strings: the ones a text input edits. */
export type TextKey<T> = { [K in keyof T]: T[K] extends string ? K : never }[keyof T];

/** A form's draft as one object: `patch` changes some fields, `bind(key)` wires a text input
 * (`value`, `onValue`) to one. */
export function useDraft<T extends object>(initial: T | (() => T)) {
  const [draft, setDraft] = useState<T>(initial);
  const patch = (changes: Partial<T>) => setDraft((d) => ({ ...d, ...changes }));
  const bind = (key: TextKey<T>) => ({
    value: draft[key] as string,
    onValue: (v: string) => patch({ [key]: v } as Partial<T>),
  });
  return { draft, setDraft, patch, bind };
}
