// The presale lottery's settings in the concert editor (docs/waiting-room.md, "Presale
// lottery"): mode, registration window and winners, with what is wrong said in plain words
// before the form is sent.

import type { Concert, QueueSettings } from "../../api/types";
import { CheckboxField, InputField } from "../../components/ui";
import { localInput, toIso } from "../../lib/localTime";

export interface LotteryDraft {
  lottery: boolean;
  opensAt: string;
  closesAt: string;
  winners: string;
}

export const NEW_LOTTERY: LotteryDraft = { lottery: false, opensAt: "", closesAt: "", winners: "" };

/** The form's draft of a concert's lottery settings; times in the venue's zone. */
export function lotteryDraft(queue: Concert["queue"], timeZone?: string): LotteryDraft {
  const at = (iso: string | null | undefined) => (iso ? localInput(new Date(iso), timeZone) : "");
  return {
    lottery: queue.mode === "lottery",
    opensAt: at(queue.registration_opens_at),
    closesAt: at(queue.registration_closes_at),
    winners: queue.winners ? String(queue.winners) : "",
  };
}

/** The lottery's part of the API's queue object. */
export function lotterySettings(d: LotteryDraft, timeZone?: string): Partial<QueueSettings> {
  if (!d.lottery) return { mode: "fifo" };
  return {
    mode: "lottery",
    registration_opens_at: toIso(d.opensAt, timeZone),
    registration_closes_at: toIso(d.closesAt, timeZone),
    winners: Math.floor(Number(d.winners || "0")),
  };
}

/** What is wrong with the lottery's settings, per input, in the organiser's words (empty when
 * nothing is). `onSale`: the concert's on-sale (ISO), `queueOn`: the waiting room's switch. */
export function lotteryProblems(
  d: LotteryDraft,
  onSale: string | null,
  queueOn: boolean,
  timeZone?: string,
): Record<string, string> {
  if (!d.lottery) return {};
  const problems: Record<string, string> = {};
  const opens = toIso(d.opensAt, timeZone);
  const closes = toIso(d.closesAt, timeZone);
  if (!queueOn) problems.lottery = "A lottery needs the waiting room: turn it on above.";
  if (!opens) problems.opensAt = "Say when registration opens.";
  if (!closes) problems.closesAt = "Say when registration closes.";
  if (opens && closes && opens >= closes) {
    problems.closesAt = "Registration must close after it opens.";
  }
  if (closes && onSale && closes > onSale) {
    problems.closesAt = "Registration must close before the on-sale starts (the draw is then).";
  }
  const winners = Number(d.winners);
  if (!Number.isInteger(winners) || winners < 1) {
    problems.winners = "How many fans may buy first? At least 1.";
  }
  return problems;
}

/** The first problem, as one sentence for the form's error line (null when none). */
export function lotteryProblem(...args: Parameters<typeof lotteryProblems>): string | null {
  return Object.values(lotteryProblems(...args))[0] ?? null;
}

export function LotteryFields({
  draft,
  onChange,
  onSale,
  queueOn,
  timeZone,
}: {
  draft: LotteryDraft;
  onChange: (patch: Partial<LotteryDraft>) => void;
  onSale: string | null;
  queueOn: boolean;
  timeZone?: string;
}) {
  const problems = lotteryProblems(draft, onSale, queueOn, timeZone);
  return (
    <div className="space-y-3" data-testid="lottery-fields">
      <CheckboxField
        className="flex items-center gap-2 text-sm"
        checked={draft.lottery}
        onChecked={(lottery) => onChange({ lottery })}
      >
        Presale lottery: fans register ahead, a draw picks who buys first
      </CheckboxField>
      {problems.lottery && <p className="text-xs text-rose-700">{problems.lottery}</p>}
      {draft.lottery && (
        <div className="grid gap-4 sm:grid-cols-3">
          <InputField
            label="Registration opens"
            id="lottery-opens"
            type="datetime-local"
            hint="Venue time."
            error={problems.opensAt}
            value={draft.opensAt}
            onValue={(opensAt) => onChange({ opensAt })}
          />
          <InputField
            label="Registration closes (the draw)"
            id="lottery-closes"
            type="datetime-local"
            hint="Venue time; at or before the on-sale."
            error={problems.closesAt}
            value={draft.closesAt}
            onValue={(closesAt) => onChange({ closesAt })}
          />
          <InputField
            label="Winners"
            id="lottery-winners"
            type="number"
            min={1}
            hint="Fans let in first, in draw order."
            error={problems.winners}
            value={draft.winners}
            onValue={(winners) => onChange({ winners })}
          />
        </div>
      )}
    </div>
  );
}
