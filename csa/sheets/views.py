"""Distribution sheets on the web: a round's list of files, downloads, previews, re-render.

Downloads only serve files the scheduler rendered when the round locked; nothing long is
rendered in a request (WeasyPrint lays out a few pages a second). A preview renders one
site's pickup list if it is short (SHEETS_PREVIEW_MAX_ROWS) and is refused otherwise;
re-rendering a big round runs in a background thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from csa.errors import CsaError, ValidationFailed
from csa.extensions import db
from csa.models import PickupSite, RoundStatus
from csa.rounds.urls import round_or_404
from csa.sheets import build as sheets
from csa.ui.access import FIELD, STAFF, roles
from csa.ui.forms import EmptyForm

bp = Blueprint("sheets", __name__)

KIND_LABELS = {
    "pickup": _l("Pickup list"),
    "poster": _l("Share poster"),
    "packing": _l("Packing summary"),
    "all-sites": _l("Pickup lists, all sites"),
}


@dataclass
class SheetLink:
    label: str
    url: str
    size: int  # bytes


def _link(label: str, path: Path | None, endpoint_args: dict[str, Any]) -> SheetLink | None:
    if path is None:
        return None
    return SheetLink(label, url_for("sheets.download", **endpoint_args), path.stat().st_size)


@bp.route("/<date>")
@roles(*FIELD)
def index(date: str) -> ResponseReturnValue:
    round_ = round_or_404(date)
    iso = round_.date.isoformat()
    sites = [] if round_.status == RoundStatus.CANCELLED else sheets.round_sites(round_)
    round_files: list[SheetLink] = []
    site_files: list[tuple[PickupSite, list[SheetLink]]] = []
    if round_.is_locked:
        for kind in sheets.ROUND_KINDS:
            link = _link(
                str(KIND_LABELS[kind]), sheets.find_sheet(round_, kind), {"date": iso, "kind": kind}
            )
            if link:
                round_files.append(link)
        for site in sites:
            links = [
                _link(
                    str(KIND_LABELS[kind]),
                    sheets.find_sheet(round_, kind, site.id),
                    {"date": iso, "kind": kind, "site_id": site.id},
                )
                for kind in sheets.SITE_KINDS
            ]
            site_files.append((site, [x for x in links if x]))
    return render_template(
        "sheets/index.html",
        round=round_,
        sites=sites,
        round_files=round_files,
        site_files=site_files,
        busy=sheets.rendering_in_background(round_.id),
        form=EmptyForm() if current_user.role in STAFF else None,
    )


@bp.route("/<date>/<kind>.pdf")
@bp.route("/<date>/<kind>/<int:site_id>.pdf")
@roles(*FIELD)
def download(date: str, kind: str, site_id: int | None = None) -> ResponseReturnValue:
    """Serve a stored sheet; 404 until the scheduler has rendered it (never renders here)."""
    round_ = round_or_404(date)
    if kind not in sheets.KINDS or not round_.is_locked:
        abort(404)
    if (kind in sheets.SITE_KINDS) != (site_id is not None):
        abort(404)
    path = sheets.find_sheet(round_, kind, site_id)
    if path is None:
        abort(404)
    return send_file(path, mimetype="application/pdf", download_name=path.name, max_age=0)


@bp.route("/<date>/preview/<int:site_id>.pdf")
@roles(*FIELD)
def preview(date: str, site_id: int) -> ResponseReturnValue:
    """One site's pickup list rendered now: what it would say if the round locked now.

    A site longer than SHEETS_PREVIEW_MAX_ROWS is refused with a message rather than
    rendered while the request waits (3,000 rows take over ten seconds).
    """
    round_ = round_or_404(date)
    site = db.session.get(PickupSite, site_id)
    if site is None or round_.status == RoundStatus.CANCELLED:
        abort(404)
    if round_.is_locked:
        stored = sheets.find_sheet(round_, "pickup", site_id)
        if stored is not None:
            return send_file(stored, mimetype="application/pdf", download_name=stored.name)
    limit = int(current_app.config.get("SHEETS_PREVIEW_MAX_ROWS", 300))
    try:
        body = sheets.render_site_preview(round_, site, max_rows=limit)
    except ValidationFailed as exc:  # too long to render inside a request
        flash(str(exc), "error")
        return redirect(url_for("sheets.index", date=round_.date.isoformat()))
    except CsaError:
        abort(404)
    name = f"preview-pickup-{sheets.site_slug(site)}-{round_.date.isoformat()}.pdf"
    return Response(
        body,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{name}"', "Cache-Control": "no-store"},
    )


@bp.route("/<date>/regenerate", methods=["POST"])
@roles(*STAFF)
def regenerate(date: str) -> ResponseReturnValue:
    """Render a locked round's sheets again (e.g. after it was reopened and locked again).

    A small round renders at once; a big one in a background thread, so the request
    never waits for a long render.
    """
    round_ = round_or_404(date)
    here = url_for("sheets.index", date=round_.date.isoformat())
    if not EmptyForm().validate_on_submit():
        abort(400)
    if not round_.is_locked:
        flash(_("The sheets are made when the round locks; preview a site until then."), "error")
        return redirect(here)
    limit = int(current_app.config.get("SHEETS_INLINE_MAX_ROWS", 300))
    if sheets.sheet_rows(round_) > limit:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        if sheets.render_in_background(app, round_.id):
            flash(_("The sheets are being made again; reload this page in a minute."), "info")
        else:
            flash(_("The sheets are being made already."), "info")
        return redirect(here)
    try:
        paths = sheets.render_round_sheets(round_, force=True)
    except CsaError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(here)
    db.session.commit()
    flash(
        ngettext("%(num)d sheet made again.", "%(num)d sheets made again.", len(paths)), "success"
    )
    return redirect(here)
