"""Small helpers the blueprints share."""

from __future__ import annotations

import datetime as dt

from flask import abort

from csa.models import Round
from csa.rounds.split import round_on


def round_or_404(iso: str) -> Round:
    """The round on an ISO date from the URL; 404 for a malformed date or no round."""
    try:
        on_date = dt.date.fromisoformat(iso)
    except ValueError:
        abort(404)
    found = round_on(on_date)
    if found is None:
        abort(404)
    return found
