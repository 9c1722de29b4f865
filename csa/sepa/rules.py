"""The rules of SEPA direct debits that need no database: sequence types, mandate
references, masked account numbers and the earliest collection date. Pure."""

from __future__ import annotations

import re
from datetime import date, timedelta

from schwifty import IBAN
from schwifty.exceptions import SchwiftyException

FIRST = "FRST"  # the first collection under a recurring mandate
RECURRING = "RCUR"  # every later one
ONE_OFF = "OOFF"  # the only collection under a one-off mandate

# A mandate reference (MndtId): up to 35 of the characters SEPA files may carry.
_REFERENCE = re.compile(r"^[A-Za-z0-9+?/:().,' -]{1,35}$")


def sequence_type(one_off: bool, first_collected_on: date | None) -> str | None:
    """The SeqTp of the next collection under a mandate, or None when it is spent
    (a one-off mandate that was collected once)."""
    if one_off:
        return ONE_OFF if first_collected_on is None else None
    return FIRST if first_collected_on is None else RECURRING


def mandate_reference(member_id: int, n: int) -> str:
    """The reference generated for a household's n-th mandate: "CSA-<member id>-<n>"."""
    return f"CSA-{member_id}-{n}"


def valid_reference(text: str) -> bool:
    """True for a reference a bank file can carry (letters, digits, few signs, ≤ 35)."""
    return bool(_REFERENCE.match(text)) and text.strip() == text


def in_sepa_zone(iban: str) -> bool:
    """True when the IBAN's country takes part in SEPA direct debits."""
    try:
        return bool(IBAN(iban).in_sepa_zone)
    except (SchwiftyException, ValueError):
        return False


def mask_iban(iban: str) -> str:
    """An IBAN with all but its country, check digits and last four hidden: "DE89 … 3000"."""
    compact = iban.replace(" ", "")
    if len(compact) <= 8:
        return "…"
    return f"{compact[:4]} … {compact[-4:]}"


def earliest_collection(today: date) -> date:
    """The first collection date to offer: two days ahead, moved off a weekend (banks
    need the file a business day before; SEPA Core asks D-1 since 2016)."""
    day = today + timedelta(days=2)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day
