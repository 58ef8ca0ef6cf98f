// The payment of an order waiting for it, from the service (GET /orders/{id}/payment), so an
// order can be paid from any tab or device of the buyer, not only where it was checked out.
// Checkout puts the payment it got into the cache, so that tab asks nothing again.

import { type QueryClient, useQuery } from "@tanstack/react-query";
import { isApiError } from "../api/client";
import type { Order, Payment } from "../api/types";
import { api } from "./api";

export const paymentKey = (orderId: string) => ["order-payment", orderId] as const;

/** Keeps the payment checkout answered for the order page of this tab. */
export function rememberPayment(queryClient: QueryClient, orderId: string, payment: Payment) {
  queryClient.setQueryData(paymentKey(orderId), payment);
}

/** Whether the service said there is nothing left to pay (409 OrderNotPayable). */
export function notPayable(error: unknown): boolean {
  return isApiError(error) && error.code === "OrderNotPayable";
}

/** The order's payment while it waits for one; an order's intent never changes. */
export function useOrderPayment(order: Order) {
  return useQuery({
    queryKey: paymentKey(order.id),
    queryFn: () => api.orderPayment(order.id),
    enabled: order.status === "pending_payment",
    staleTime: Number.POSITIVE_INFINITY,
    retry: (n, e) => isApiError(e) && e.transient && n < 3,
  });
}
