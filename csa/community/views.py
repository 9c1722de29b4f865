"""The door to the Community desk: the navigation's Community item opens the first of its
pages the signed-in role may use (a farmer's is not a coordinator's)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, url_for
from flask.typing import ResponseReturnValue

from csa.models import Role
from csa.ui.access import FIELD, roles
from csa.ui.community import member_pages, staff_pages

bp = Blueprint("community", __name__)


@bp.route("/")
@roles(*FIELD)
def index() -> ResponseReturnValue:
    found = staff_pages()
    if not found:
        abort(404)
    return redirect(url_for(found[0][0]))


@bp.route("/mine")
@roles(Role.MEMBER)
def mine() -> ResponseReturnValue:
    found = member_pages()
    if not found:
        abort(404)
    return redirect(url_for(found[0][0]))
