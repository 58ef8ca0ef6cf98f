import type { Ticket } from "../api/types";
import { QrCode } from "../components/QrCode";
import { Details } from "../components/ui";

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
    </li>
  );
}
