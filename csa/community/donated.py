"""Shares that go to the food-sharing partner besides the donated holds: an offered share
nobody took (csa/offers), and whatever a later feature adds.

A feature registers a source on the app (`add_donation_source`, from its blueprint's
`record_once`); the partner's pickup sheet and the season's totals (csa/donations) ask every
source once per round. Sources answer memberships, not contents: the contents are the
membership's allocation in the round's split, so a share is never counted twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

from csa.models import Round

EXTENSION = "csa.donation_sources"


@dataclass(frozen=True)
class DonatedShare:
    membership_id: int
    reason: str  # plain text in the reader's language: "offered, not taken"


DonationSource = Callable[[Round], list[DonatedShare]]


def add_donation_source(app: Flask, source: DonationSource) -> None:
    """Register a feature's donated shares (once per app: `bp.record_once`)."""
    app.extensions.setdefault(EXTENSION, []).append(source)


def donated_shares(round_: Round) -> list[DonatedShare]:
    """Every registered feature's donated shares of this round, the first reason winning."""
    seen: dict[int, DonatedShare] = {}
    for source in current_app.extensions.get(EXTENSION, []):
        for share in source(round_):
            seen.setdefault(share.membership_id, share)
    return list(seen.values())
