import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { fieldErrors } from "../../api/errors";
import type { Concert } from "../../api/types";
import { TimeZoneSelect } from "../../components/TimeZoneSelect";
import { ErrorBox, Field, InputField, Notice } from "../../components/ui";
import { api } from "../../lib/api";
import { dateTime, zoneName } from "../../lib/format";
import { localInput, toIso } from "../../lib/localTime";

/** The organiser's changes of plan on the live page: edit the details (not the layout), or
 * cancel the concert (typing its title to confirm) and follow the refunds. */
export function ConcertChanges({ concert }: { concert: Concert }) {
  if (concert.status === "cancelled" || concert.cancellation) {
    return <CancellationProgress concertId={concert.id} />;
  }
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <EditDetails concert={concert} />
      <CancelConcert concert={concert} />
    </div>
  );
}

function EditDetails({ concert }: { concert: Concert }) {
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState(concert.title);
  const [description, setDescription] = useState(concert.description);
  const [zone, setZone] = useState(concert.venue.time_zone);
  const [startsAt, setStartsAt] = useState(
    localInput(new Date(concert.starts_at), concert.venue.time_zone),
  );
  const [onSaleAt, setOnSaleAt] = useState(
    localInput(new Date(concert.on_sale_at), concert.venue.time_zone),
  );
  const save = useMutation({
    mutationFn: () =>
      api.patchConcert(concert.id, {
        title: title.trim(),
        description,
        starts_at: toIso(startsAt, zone) ?? concert.starts_at,
        on_sale_at: toIso(onSaleAt, zone) ?? concert.on_sale_at,
        venue: { name: concert.venue.name, city: concert.venue.city, time_zone: zone },
      }),
    onSuccess: (c) => {
      queryClient.setQueryData(["concert", c.id], c);
      setOpen(false);
    },
  });
  const fields = fieldErrors(save.error);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    save.mutate();
  };
  if (!open) {
    return (
      <div className="card space-y-2">
        <h2 className="font-semibold">Details</h2>
        <p className="text-sm text-slate-600">
          Title, description, times and the venue's time zone can change while tickets sell; the
          layout and prices can't once seats are sold.
        </p>
        {save.isSuccess && <Notice tone="success">Saved.</Notice>}
        <button type="button" className="btn-secondary" onClick={() => setOpen(true)}>
          Edit details
        </button>
      </div>
    );
  }
  return (
    <form className="card space-y-3" onSubmit={submit} aria-labelledby="details-h" noValidate>
      <h2 id="details-h" className="font-semibold">
        Edit details
      </h2>
      <InputField
        label="Title"
        id="e-title"
        value={title}
        onValue={setTitle}
        error={fields.title}
        required
        maxLength={200}
      />
      <Field label="Description" htmlFor="e-desc" error={fields.description}>
        <textarea
          id="e-desc"
          className="input min-h-20"
          value={description}
          onChange={(e) => setDescription(e.target.value)}
        />
      </Field>
      <TimeZoneSelect
        id="e-zone"
        error={fields["venue.time_zone"]}
        hint="The venue's: buyers see every time in it."
        value={zone}
        onValue={setZone}
      />
      <InputField
        label="Starts"
        id="e-starts"
        type="datetime-local"
        value={startsAt}
        onValue={setStartsAt}
        error={fields.starts_at}
        hint={zoneName(zone)}
      />
      <InputField
        label="On sale from"
        id="e-onsale"
        type="datetime-local"
        value={onSaleAt}
        onValue={setOnSaleAt}
        error={fields.on_sale_at}
        hint={zoneName(zone)}
      />
      {save.isError && <ErrorBox error={save.error} />}
      <div className="flex gap-2">
        <button type="submit" className="btn-primary" disabled={save.isPending}>
          {save.isPending ? "Saving…" : "Save details"}
        </button>
        <button type="button" className="btn-secondary" onClick={() => setOpen(false)}>
          Close
        </button>
      </div>
    </form>
  );
}

function CancelConcert({ concert }: { concert: Concert }) {
  const queryClient = useQueryClient();
  const [confirming, setConfirming] = useState(false);
  const [typed, setTyped] = useState("");
  const cancel = useMutation({
    mutationFn: () => api.cancelConcert(concert.id),
    onSuccess: (c) => queryClient.setQueryData(["concert", c.id], c),
  });
  const matches = typed.trim() === concert.title.trim();
  return (
    <section className="card space-y-3" aria-labelledby="cancel-h">
      <h2 id="cancel-h" className="font-semibold">
        Cancel the concert
      </h2>
      <p className="text-sm text-slate-600">
        Sales stop at once. Every paid order is refunded in full and every unpaid one cancelled;
        buyers get an email. This can't be undone.
      </p>
      {!confirming ? (
        <button type="button" className="btn-secondary" onClick={() => setConfirming(true)}>
          Cancel concert…
        </button>
      ) : (
        <div className="space-y-2">
          <InputField
            label={`Type the concert's title (${concert.title}) to confirm`}
            id="cancel-confirm"
            value={typed}
            onValue={setTyped}
            autoComplete="off"
          />
          {cancel.isError && <ErrorBox error={cancel.error} />}
          <div className="flex gap-2">
            <button
              type="button"
              className="btn-primary bg-rose-700 hover:bg-rose-800"
              disabled={!matches || cancel.isPending}
              onClick={() => cancel.mutate()}
            >
              {cancel.isPending ? "Cancelling…" : "Cancel the concert and refund everyone"}
            </button>
            <button
              type="button"
              className="btn-secondary"
              onClick={() => {
                setConfirming(false);
                setTyped("");
              }}
            >
              Keep the concert
            </button>
          </div>
        </div>
      )}
    </section>
  );
}

function CancellationProgress({ concertId }: { concertId: string }) {
  const concert = useQuery({
    queryKey: ["concert", concertId],
    queryFn: () => api.getConcert(concertId),
    refetchInterval: (q) => (q.state.data?.cancellation?.finished_at ? false : 2000),
  });
  const c = concert.data;
  const p = c?.cancellation;
  if (!c || !p) return null;
  const wound = p.refunded + p.cancelled;
  return (
    <section className="card space-y-2" aria-label="Cancellation" data-testid="cancellation">
      <h2 className="font-semibold">Concert cancelled</h2>
      <p className="text-sm text-slate-600">
        Cancelled {dateTime(p.started_at, c.venue.time_zone)}.{" "}
        {p.finished_at ? (
          <span data-testid="cancellation-done">Done: every order is refunded or cancelled.</span>
        ) : (
          <span role="status">Refunding… ({wound.toLocaleString()} done so far)</span>
        )}
      </p>
      <p className="text-sm tabular-nums" data-testid="cancellation-counts">
        {p.refunded.toLocaleString()} refunded · {p.cancelled.toLocaleString()} unpaid cancelled
        {p.orders_total ? ` · ${wound.toLocaleString()} of ${p.orders_total.toLocaleString()}` : ""}
        {p.failed ? ` · ${p.failed.toLocaleString()} to retry` : ""}
      </p>
    </section>
  );
}
