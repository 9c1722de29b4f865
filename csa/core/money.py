"""Money as integer cents: reading what people type, printing it back for a form, and splitting
a total into parts that add up exactly (largest remainders). Pure: no Flask, no database.

Amounts are never floats; `Decimal` appears only where text is read or written (csa/ui/
formatting.py prints them in the reader's language and currency).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping
from fractions import Fraction
from typing import Any, TypeVar

# The largest amount a person may type: ten million in the currency's unit. Far beyond any
# share or season, well inside a 4-byte integer column of cents.
MAX_CENTS = 1_000_000_000

# "650", "650,00", "650.5", "1 200,50", "1.200,50", "1,200.50": digits with an optional
# group separator (space, no-break space, apostrophe, or the other of comma/point) and at
# most two decimals after the last comma or point.
_PLAIN = re.compile(r"^([0-9]+)(?:[.,]([0-9]{1,2}))?$")
_GROUPED = re.compile(r"^([0-9]{1,3}(?:([ ,.'])[0-9]{3})+)(?:([.,])([0-9]{1,2}))?$")

K = TypeVar("K", bound=Hashable)


class AmountError(ValueError):
    """Text that is not an amount of money (or one out of bounds)."""


def parse_cents(text: str, *, maximum: int = MAX_CENTS) -> int:
    """Read money as typed, "650", "650,00" or "1 200.50", as whole cents (≥ 0, ≤ maximum).

    A comma or a point may be the decimal mark; at most two decimals. Signs, letters and
    amounts past `maximum` are refused with AmountError.
    """
    cleaned = text.strip().replace("\u00a0", " ").replace("\u202f", " ")
    match = _PLAIN.match(cleaned)
    if match:
        whole, decimals = match.group(1), match.group(2) or ""
    else:
        grouped = _GROUPED.match(cleaned)
        # "12,345" or "1.200" alone could be decimals or groups: refused, not guessed.
        ambiguous = grouped is not None and grouped.group(2) in ",." and not grouped.group(3)
        if not grouped or ambiguous or grouped.group(2) == grouped.group(3):
            raise AmountError(text)
        whole = re.sub(r"[ ,.']", "", grouped.group(1))
        decimals = grouped.group(4) or ""
    if len(whole) > 12:
        raise AmountError(text)
    cents = int(whole) * 100 + int(decimals.ljust(2, "0"))
    if cents > maximum:
        raise AmountError(text)
    return cents


def cents_to_str(cents: int) -> str:
    """Print cents for a form field: 65000 -> "650.00" (the field reads it back)."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def split_cents(
    total: int, weights: Mapping[K, int | Fraction], *, key: Callable[[K], Any] | None = None
) -> dict[K, int]:
    """Split `total` cents in proportion to `weights` so the parts add up to exactly `total`.

    Each part gets the floor of its exact share; the cents left over go one each to the
    largest remainders, ties broken by `key` (default: the weight's key itself, so the result
    does not depend on the order of the mapping). Weights must be ≥ 0 with a positive sum.
    """
    if not weights:
        if total:
            raise ValueError("nothing to split a non-zero total over")
        return {}
    whole = sum(Fraction(w) for w in weights.values())
    if whole <= 0 or any(Fraction(w) < 0 for w in weights.values()):
        raise ValueError("weights must be non-negative with a positive sum")
    exact = {k: Fraction(total) * Fraction(w) / whole for k, w in weights.items()}
    return round_to_total(exact, total, key=key)


def round_to_total(
    exact: Mapping[K, Fraction], total: int, *, key: Callable[[K], Any] | None = None
) -> dict[K, int]:
    """Round exact amounts to whole cents that add up to `total` (their sum, an integer).

    Floors first, then one cent each to the largest remainders; ties by `key` (default the
    mapping's key), so any order of the input gives the same result.
    """
    order_key: Callable[[K], Any] = key if key is not None else (lambda k: k)
    parts = {k: int(v // 1) for k, v in exact.items()}
    left = total - sum(parts.values())
    if left < 0 or left > len(parts):
        raise ValueError("the exact amounts do not add up to the total")
    ranked = sorted(exact, key=lambda k: (-(exact[k] - parts[k]), order_key(k)))
    for k in ranked[:left]:
        parts[k] += 1
    return parts
