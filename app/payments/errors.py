"""Payment errors. Both adapters raise only these: no SDK or Redis exception leaves app.payments."""

from __future__ import annotations

from app.errors import AppError, Conflict, NotFound, ServiceUnavailable


class PaymentProviderUnavailable(ServiceUnavailable):
    """The provider did not answer, or answered with a transient failure, on every attempt."""

    detail = "The payment provider is not answering right now; retry in a few seconds."
    dependency = "payments"
    retry_after = 5


class PaymentProviderError(AppError):
    """The provider refused a request the buyer cannot fix (bad API key, a request it considers
    invalid, an idempotency key reused with other parameters): a bug or a misconfiguration."""

    status_code = 502
    detail = (
        "The payment provider refused the request. It has been logged; "
        "please try again later or contact support."
    )


class PaymentIntentNotFound(NotFound):
    detail = "No such payment intent."


class PaymentIntentNotCancelable(Conflict):
    detail = "This payment can no longer be cancelled: it has already gone through."


class PaymentIntentNotConfirmable(Conflict):
    detail = "This payment can no longer be confirmed: it was cancelled."


class PaymentIntentNotRefundable(Conflict):
    detail = "This payment cannot be refunded: it has not succeeded."


class InvalidSignature(AppError):
    status_code = 400
    detail = (
        "The Stripe-Signature header is missing, malformed, too old, or does not match the body."
    )


class InvalidPayload(AppError):
    status_code = 400
    detail = "The webhook body is not a Stripe event (a JSON object with id, type and data.object)."
