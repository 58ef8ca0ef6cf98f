import type { Concert, QueueSettings } from "../../api/types";
import { CheckboxField, InputField } from "../../components/ui";
import type { TextKey } from "../../components/useDraft";
import { localInput, toIso } from "../../lib/localTime";

/** A concert's waiting-room settings as its form edits them (strings, as typed). */
export interface QueueDraft {
  enabled: boolean;
  admitPerMinute: string;
  maxActive: string;
  opensAt: string;
  /** A proof-of-work check before joining (docs/waiting-room.md, "Proof of work"). */
  challenge: boolean;
  challengeDifficulty: string;
}

const DEFAULT_DIFFICULTY = "100000";

export const NEW_QUEUE: QueueDraft = {
  enabled: false,
  admitPerMinute: "600",
  maxActive: "2000",
  opensAt: "",
  challenge: false,
  challengeDifficulty: DEFAULT_DIFFICULTY,
};

/** The form's draft of a concert's current settings; times as wall-clock times in
 * `timeZone` (the venue's). */
export function queueDraft(queue: Concert["queue"], timeZone?: string): QueueDraft {
  return {
    enabled: queue.enabled,
    admitPerMinute: String(queue.admit_per_minute),
    maxActive: String(queue.max_active),
    opensAt: queue.opens_at ? localInput(new Date(queue.opens_at), timeZone) : "",
    challenge: queue.challenge ?? false,
    challengeDifficulty: String(queue.challenge_difficulty ?? DEFAULT_DIFFICULTY),
  };
}

/** The waiting-room settings as the API takes them, from the form's strings (times read in
 * `timeZone`, the venue's). */
export function queueSettings(q: QueueDraft, timeZone?: string): QueueSettings {
  const opens = toIso(q.opensAt, timeZone);
  return {
    enabled: q.enabled,
    admit_per_minute: Number(q.admitPerMinute),
    max_active: Number(q.maxActive),
    ...(opens ? { opens_at: opens } : {}),
    challenge: q.challenge,
    challenge_difficulty: Number(q.challengeDifficulty),
  };
}

/** The switch of the waiting room, with what it means on this form. */
export function QueueToggle({
  draft,
  onChange,
  children,
}: {
  draft: QueueDraft;
  onChange: (patch: Partial<QueueDraft>) => void;
  children: string;
}) {
  return (
    <CheckboxField
      className="flex items-center gap-2 text-sm"
      checked={draft.enabled}
      onChecked={(enabled) => onChange({ enabled })}
    >
      {children}
    </CheckboxField>
  );
}

/** The inputs of the settings: the draft's field, its label, id and hint, the API's field (for
 * its error). */
// biome-ignore format: a table, an input a line
const QUEUE_INPUTS: {
  key: TextKey<QueueDraft>;
  label: string;
  id: string;
  hint: string;
  type: "number" | "datetime-local";
  field: string;
}[] = [
  { key: "admitPerMinute", label: "Let in per minute", id: "q-rate", hint: "Buyers admitted each minute.", type: "number", field: "queue.admit_per_minute" },
  { key: "maxActive", label: "Shopping at once, at most", id: "q-active", hint: "Admitted buyers with a live pass.", type: "number", field: "queue.max_active" },
  { key: "opensAt", label: "Line opens (optional)", id: "q-opens", hint: "Joining before this is refused.", type: "datetime-local", field: "queue.opens_at" },
];

export function QueueFields({
  draft,
  onChange,
  fields,
}: {
  draft: QueueDraft;
  onChange: (patch: Partial<QueueDraft>) => void;
  fields: Record<string, string>;
}) {
  return (
    <div className="space-y-4">
      <div className="grid gap-4 sm:grid-cols-3">
        {QUEUE_INPUTS.map(({ key, type, field, ...input }) => (
          <InputField
            key={key}
            {...input}
            error={fields[field]}
            type={type}
            {...(type === "number" ? { min: 1 } : {})}
            value={draft[key]}
            onValue={(v) => onChange({ [key]: v })}
          />
        ))}
      </div>
      <CheckboxField
        className="flex items-center gap-2 text-sm"
        checked={draft.challenge}
        onChecked={(challenge) => onChange({ challenge })}
      >
        Ask for a proof-of-work check before joining (slows down bots; a phone spends a second or
        two on it while the fan reads the page)
      </CheckboxField>
      {draft.challenge && (
        <div className="grid gap-4 sm:grid-cols-3">
          <InputField
            label="Check difficulty"
            id="q-difficulty"
            hint="Higher costs bots and phones more. 100000: about 2 s on a phone."
            error={fields["queue.challenge_difficulty"]}
            type="number"
            min={1000}
            value={draft.challengeDifficulty}
            onValue={(challengeDifficulty) => onChange({ challengeDifficulty })}
          />
        </div>
      )}
    </div>
  );
}
