"""What other features say about a member's rounds on *My share*: the site's note for the
round, who of the share partners collects, an offered share, a swap, site duty.

Like the pickup list's annotations (csa/sheets/annotations.py), each feature registers a
provider on the app (`add_round_notes`, from its blueprint's `record_once`); *This week*
asks every one once for all the rounds it shows. The text is plain and in the reader's
language; the template escapes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from flask import Flask, current_app

from csa.models import Membership, Round

EXTENSION = "csa.round_notes"


@dataclass(frozen=True)
class RoundNote:
    text: str
    url: str = ""  # where to act on it ("Accept the share", "See the swap board"), or ""
    link: str = ""  # the link's words
    tone: str = "info"  # info or warning (the flash styles of base.html)


# A provider gets the household's membership and the rounds the page shows; it answers by
# round id, in a few queries for all of them.
RoundNotes = Callable[[Membership, Sequence[Round]], dict[int, list[RoundNote]]]


def add_round_notes(app: Flask, provider: RoundNotes) -> None:
    """Register a feature's notes on a member's rounds (once per app: `bp.record_once`)."""
    app.extensions.setdefault(EXTENSION, []).append(provider)


def round_notes(membership: Membership, rounds: Sequence[Round]) -> dict[int, list[RoundNote]]:
    """Every registered feature's notes on these rounds of this membership."""
    merged: dict[int, list[RoundNote]] = {}
    if not rounds:
        return merged
    for provider in current_app.extensions.get(EXTENSION, []):
        for round_id, notes in provider(membership, rounds).items():
            merged.setdefault(round_id, []).extend(notes)
    return merged
