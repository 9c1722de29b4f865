"""The round a URL names, for every blueprint that shows one."""

from __future__ import annotations

from flask import abort

from csa.models import Round
from csa.rounds.split import round_on
from csa.ui.args import day_or_404


def round_or_404(iso: str) -> Round:
    """The round on an ISO date from the URL; 404 for a malformed date or no round."""
    found = round_on(day_or_404(iso))
    if found is None:
        abort(404)
    return found
