import { useMutation, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { newIdempotencyKey } from "../api/client";
import type { Ticket, TicketTransfer } from "../api/types";
import { QrCode } from "../components/QrCode";
import { Details, ErrorBox, Notice } from "../components/ui";
import { api } from "../lib/api";

export function TicketCard({
  ticket,
  concertTitle,
}: {
  ticket: Ticket;
  concertTitle?: string | undefined;
}) {
  return (
    <li className="card flex flex-col items-center gap-3 text-center" data-testid="ticket">
      {concertTitle && <p className="font-semibold">{concertTitle}</p>}
      <p className="text-sm text-slate-700">
        {ticket.section} · Row {ticket.row} · Seat {ticket.number}
      </p>
      <QrCode
        value={ticket.code}
        label={`QR code of the ticket for ${ticket.section}, row ${ticket.row}, seat ${ticket.number}`}
      />
      {/* For the door staff when a code won't scan, and for support: legible (slate-700 on
          white is 10:1), but out of the way. */}
      <Details
        items={[
          ["Ticket", ticket.id],
          ["Code", ticket.code],
          ["Order", ticket.order_id],
        ]}
        className="w-full text-left text-slate-700"
      />
      {ticket.checked_in_at === null && <GiveTicket ticket={ticket} />}
    </li>
  );
}

/** Give the ticket to someone with an account (at no price): an address, then a confirmation,
 * since the code on this card stops admitting once it is given. */
function GiveTicket({ ticket }: { ticket: Ticket }) {
  const queryClient = useQueryClient();
  const [open, setOpen] = useState(false);
  const [email, setEmail] = useState("");
  const [confirming, setConfirming] = useState(false);
  const [key, setKey] = useState(newIdempotencyKey);
  const give = useMutation({
    mutationFn: (): Promise<TicketTransfer> => api.transferTicket(ticket.id, email.trim(), key),
    // The order is not refetched here: the card stays, with this notice, until the page is
    // left (the order then lists the ticket as given).
    onSuccess: () => void queryClient.invalidateQueries({ queryKey: ["me"] }),
    onError: () => {
      setConfirming(false);
      setKey(newIdempotencyKey()); // a corrected address is a new attempt
    },
  });
  const seat = `${ticket.section}, row ${ticket.row}, seat ${ticket.number}`;

  if (give.isSuccess) {
    return (
      <Notice tone="success" title="Ticket given" className="w-full text-left">
        {give.data.to_name || give.data.to_email} has your ticket for {seat} and gets it by mail.
        Its code above no longer admits anyone.
      </Notice>
    );
  }
  if (!open) {
    return (
      <button type="button" className="btn-secondary" onClick={() => setOpen(true)}>
        Give this ticket to someone
      </button>
    );
  }
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (confirming) give.mutate();
    else setConfirming(true);
  };
  return (
    <form onSubmit={submit} className="flex w-full flex-col gap-2 text-left">
      <label className="text-sm font-medium" htmlFor={`give-${ticket.id}`}>
        Their email address (they need an account here)
      </label>
      <input
        id={`give-${ticket.id}`}
        type="email"
        required
        className="input"
        value={email}
        disabled={confirming}
        onChange={(e) => setEmail(e.target.value)}
      />
      {confirming && (
        <Notice tone="warning" title={`Give ${seat} to ${email.trim()}?`}>
          They get a new code by mail, at no charge. The code on this card stops admitting anyone,
          and only they can give it back.
        </Notice>
      )}
      {give.isError && <ErrorBox error={give.error} />}
      <div className="flex flex-wrap gap-2">
        <button type="submit" className="btn-primary" disabled={give.isPending}>
          {give.isPending ? "Giving…" : confirming ? "Yes, give it" : "Give ticket"}
        </button>
        <button
          type="button"
          className="btn-secondary"
          onClick={() => {
            setOpen(false);
            setConfirming(false);
            give.reset();
          }}
        >
          Cancel
        </button>
      </div>
    </form>
  );
}
