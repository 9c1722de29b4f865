"""Parse and print quantities exactly: integers in thousandths of a unit, never floats."""

from __future__ import annotations

import re

MILLI = 1000
# The crop units the farm can choose; their words in each language are in csa.ui.formatting.
UNITS = ("kg", "g", "bunch", "piece", "head", "l", "box")
# ASCII digits only: "\d" would take "١٢" or "①"-like digits of other scripts too.
_NUMBER = re.compile(r"^([0-9]{1,9})(?:[.,]([0-9]{1,3}))?$")


class QuantityError(ValueError):
    """A quantity a person typed that cannot be read; the message says why."""


def parse_milli(text: str) -> int:
    """Read "12,5" or "12.5" (or "1 250,5" with spaces) as 12500 thousandths.

    Accepts a decimal comma or point and at most three decimals; rejects signs, letters
    and exponents so "1e3" or "-2" never slip through as numbers.
    """
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    if not cleaned:
        raise QuantityError("empty")
    match = _NUMBER.match(cleaned)
    if not match:
        raise QuantityError("not a number")
    whole, frac = match.group(1), match.group(2) or ""
    return int(whole) * MILLI + int(frac.ljust(3, "0"))


def milli_to_str(milli: int) -> str:
    """Print thousandths with a dot and no trailing zeros: 12500 -> "12.5", 3000 -> "3"."""
    sign = "-" if milli < 0 else ""
    whole, frac = divmod(abs(milli), MILLI)
    if frac == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:03d}".rstrip("0")
