import type { Ticket } from "../api/types";
import { QrCode } from "../components/QrCode";

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
      <p className="break-all font-mono text-[10px] leading-tight text-slate-400">{ticket.id}</p>
    </li>
  );
}
