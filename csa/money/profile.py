"""The farm's billing profile: one row, made from the configuration's defaults on first use."""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from csa.extensions import db
from csa.models import FarmProfile


def farm_profile() -> FarmProfile:
    """The farm's profile row; the first call creates it (legal name = FARM_NAME, CURRENCY).

    Two processes creating it at once: both add id 1, one insert fails on the primary key and
    that process reads the other's row instead.
    """
    profile = db.session.get(FarmProfile, 1)
    if profile is not None:
        return profile
    profile = FarmProfile(
        id=1,
        legal_name=str(current_app.config.get("FARM_NAME", "")),
        currency=str(current_app.config.get("CURRENCY", "EUR")),
    )
    try:
        with db.session.begin_nested():
            db.session.add(profile)
    except Exception:  # noqa: BLE001 - the other process's row is there now
        found = db.session.scalar(select(FarmProfile).where(FarmProfile.id == 1))
        if found is None:
            raise
        return found
    return profile


def farm_currency() -> str:
    """The ISO 4217 code every amount of the farm is in."""
    return farm_profile().currency
