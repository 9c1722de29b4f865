"""The front door: send each role to the page it uses most."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from csa.models import Role
from csa.ui.access import public

bp = Blueprint("main", __name__)

HOME = {
    Role.MEMBER: "share.mine",
    Role.FARMER: "harvest.record",
    Role.COORDINATOR: "register.memberships",
    Role.ADMIN: "register.memberships",
}


@bp.route("/")
@public
def index() -> ResponseReturnValue:
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    endpoint = HOME[current_user.role]
    if endpoint == "main.index":
        return render_template("main/index.html")
    return redirect(url_for(endpoint))


@bp.route("/healthz")
@public
def healthz() -> ResponseReturnValue:
    return {"status": "ok"}
