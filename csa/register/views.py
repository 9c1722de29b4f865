"""The member register: memberships, members, farm setup. Coordinators only."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from csa.access import STAFF, roles

bp = Blueprint("register", __name__)


@bp.route("/")
@roles(*STAFF)
def memberships() -> ResponseReturnValue:
    return render_template("register/memberships.html")
