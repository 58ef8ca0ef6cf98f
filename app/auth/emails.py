"""How email addresses are compared: one account per address, however it is spelled.

An address is normalised with NFKC and then case-folded (Unicode's recommendation for
caseless matching of identifiers, UAX #31): fullwidth look-alikes (`ａｌｉｃｅ@...`) and
ligatures fold to the plain letters, a letter typed with a combining accent equals the
precomposed one, and case is folded beyond ASCII (`ß` matches `ss`). Signup stores this form;
login, the per-email login limit and the admin bootstrap look it up.

Accounts created before this were stored under `str.lower()` of the address. For most
addresses (plain ASCII) both forms are the same; for the others `lookup_forms` also yields the
old form, so those accounts still log in as before and their address can't be signed up a
second time.
"""

from __future__ import annotations

import unicodedata

__all__ = ["legacy_email", "lookup_forms", "normalize_email"]


def normalize_email(email: str) -> str:
    """NFKC, case-folded, NFKC again (case folding can un-normalise: UAX #31's NFKC_Casefold)."""
    folded = unicodedata.normalize("NFKC", email.strip()).casefold()
    return unicodedata.normalize("NFKC", folded)


def legacy_email(email: str) -> str:
    """The form accounts were stored under before `normalize_email`."""
    return email.strip().lower()


def lookup_forms(email: str) -> list[str]:
    """The stored forms an address may have: the current one first, then the old one if it
    differs."""
    current, legacy = normalize_email(email), legacy_email(email)
    return [current] if legacy == current else [current, legacy]
