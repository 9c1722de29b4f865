"""The farm's billing profile: one row, made from the configuration's defaults on first use."""

from __future__ import annotations

from flask import current_app

from csa.extensions import db
from csa.models import FarmProfile


def farm_profile() -> FarmProfile:
    """The farm's profile row; the first call adds it (legal name = FARM_NAME, CURRENCY).

    It is added to the caller's transaction, so a refused request leaves no row behind (a
    savepoint would commit it on SQLite). Two processes adding it at once: one commit fails on
    the primary key, and that request is refused once while the next finds the row.
    """
    profile = db.session.get(FarmProfile, 1)
    if profile is None:
        profile = FarmProfile(
            id=1,
            legal_name=str(current_app.config.get("FARM_NAME", "")),
            currency=str(current_app.config.get("CURRENCY", "EUR")),
        )
        db.session.add(profile)
        db.session.flush()
    return profile


def farm_currency() -> str:
    """The ISO 4217 code every amount of the farm is in."""
    return farm_profile().currency
