// The payment details of an order, kept in this tab between checkout and the order page
// (POST /checkout returns them; GET /orders/{id} does not).

import type { Payment } from "../api/types";

const key = (orderId: string) => `encore.payment.${orderId}`;

export function savePayment(orderId: string, payment: Payment): void {
  try {
    sessionStorage.setItem(key(orderId), JSON.stringify(payment));
  } catch {
    // Storage refused: pay now or not at all.
  }
}

export function loadPayment(orderId: string): Payment | null {
  try {
    const raw = sessionStorage.getItem(key(orderId));
    return raw ? (JSON.parse(raw) as Payment) : null;
  } catch {
    return null;
  }
}
