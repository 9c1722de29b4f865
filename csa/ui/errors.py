"""Error pages: one template per status, the session rolled back after a server error."""

from __future__ import annotations

from typing import Any

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from csa.extensions import db

PAGES = (400, 403, 404, 405, 413, 500)


def render_error(error: HTTPException) -> Any:
    """Render errors/<code>.html; any other status keeps werkzeug's own response."""
    if error.code == 500:
        db.session.rollback()
    code = error.code or 500
    if code in PAGES:
        return render_template(f"errors/{code}.html", error=error), code
    return error.get_response()


def register_error_pages(app: Flask) -> None:
    for code in PAGES:
        app.errorhandler(code)(render_error)
