"""The farm setup: seasons, share types, pickup sites and crops. Coordinators only.

One list, one edit (new or existing) and one deactivate/reactivate view serve the four kinds;
what differs between them (model, form, save operation, order, labels, list columns) sits in
KINDS. Each kind keeps its own rules and messages in csa/setup/operations.py. Views are thin:
check the form, call the operation, commit once, flash, redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Crop, PickupSite, Season, ShareType
from csa.setup import operations as ops
from csa.setup.forms import CropForm, PickupSiteForm, SeasonForm, SettingForm, ShareTypeForm
from csa.ui.access import STAFF, roles
from csa.ui.formatting import format_money, unit_label
from csa.ui.forms import EmptyForm, refuse

bp = Blueprint("setup", __name__)


@dataclass(frozen=True)
class Kind:
    """One kind of setting: where it is stored, how it is edited and saved, how it is listed."""

    slug: str  # its part of the URL, and its name in templates/setup/_columns.html
    model: type[ops.Setting]
    form: type[SettingForm]
    save: Callable[..., ops.Setting]
    order: Any  # the list's order after the active rows first
    title: LazyString
    new_label: LazyString


KINDS: dict[str, Kind] = {
    kind.slug: kind
    for kind in (
        Kind(
            slug="seasons",
            model=Season,
            form=SeasonForm,
            save=ops.save_season,
            order=Season.start.desc(),
            title=_l("Seasons"),
            new_label=_l("New season"),
        ),
        Kind(
            slug="share-types",
            model=ShareType,
            form=ShareTypeForm,
            save=ops.save_share_type,
            order=ShareType.weight_milli,
            title=_l("Share types"),
            new_label=_l("New share type"),
        ),
        Kind(
            slug="sites",
            model=PickupSite,
            form=PickupSiteForm,
            save=ops.save_site,
            order=PickupSite.name,
            title=_l("Pickup sites"),
            new_label=_l("New pickup site"),
        ),
        Kind(
            slug="crops",
            model=Crop,
            form=CropForm,
            save=ops.save_crop,
            order=Crop.name,
            title=_l("Crops"),
            new_label=_l("New crop"),
        ),
    )
}


@bp.app_template_filter("money")
def money(cents: int) -> str:
    """Print a share type's price in the list."""
    return format_money(cents)


@bp.context_processor
def helpers() -> dict[str, Any]:
    """Give the setup templates the translated unit names."""
    return {"unit_label": unit_label}


@bp.route("/")
@roles(*STAFF)
def index() -> ResponseReturnValue:
    """Link the four lists of the farm setup, with how many of each are active."""

    def count(model: Any) -> tuple[int, int]:
        """How many rows of a setting are active, and how many there are."""
        total = db.session.scalar(select(func.count(model.id))) or 0
        active = db.session.scalar(select(func.count(model.id)).where(model.active.is_(True)))
        return active or 0, total

    sections = [(kind, count(kind.model)) for kind in KINDS.values()]
    return render_template("setup/index.html", sections=sections)


@roles(*STAFF)
def list_view(kind: str) -> ResponseReturnValue:
    """List a setting's rows, the active ones first."""
    k = KINDS[kind]
    rows = db.session.scalars(select(k.model).order_by(k.model.active.desc(), k.order)).all()
    # Not "items": base.html sets that name for the navigation.
    return render_template("setup/list.html", kind=k, entries=rows, action_form=EmptyForm())


@roles(*STAFF)
def edit(kind: str, item_id: int | None = None) -> ResponseReturnValue:
    """Create or change a setting from its form, or show the form again with what is wrong."""
    k = KINDS[kind]
    row = db.get_or_404(k.model, item_id) if item_id is not None else None
    form = k.form(data=k.form.data_of(row) if row is not None else None)
    if form.validate_on_submit():
        try:
            saved = k.save(row, **form.values())
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("%(name)s is saved.", name=saved.name), "success")
            return redirect(url_for("setup.list", kind=k.slug))
    title = row.name if row is not None else str(k.new_label)
    status = 400 if form.is_submitted() else 200
    return render_template("setup/edit.html", kind=k, form=form, title=title), status


@roles(*STAFF)
def active(kind: str, item_id: int, active: bool) -> ResponseReturnValue:
    """Deactivate or reactivate a setting from a bare button."""
    k = KINDS[kind]
    row = db.get_or_404(k.model, item_id)
    if EmptyForm().validate_on_submit():
        ops.set_active(row, active)
        db.session.commit()
        if active:
            flash(_("%(name)s is active again.", name=row.name), "success")
        else:
            flash(_("%(name)s is deactivated.", name=row.name), "success")
    return redirect(url_for("setup.list", kind=k.slug))


# One URL per kind (/seasons/…, /crops/…) under one endpoint per verb, rather than a <kind>
# variable: the URL map lists every page, and tests/test_access.py walks each for every role.
for _slug in KINDS:
    _edit = ["GET", "POST"]
    bp.add_url_rule(f"/{_slug}", "list", list_view, defaults={"kind": _slug})
    bp.add_url_rule(f"/{_slug}/new", "new", edit, defaults={"kind": _slug}, methods=_edit)
    bp.add_url_rule(
        f"/{_slug}/<int:item_id>/edit", "edit", edit, defaults={"kind": _slug}, methods=_edit
    )
    for _verb, _active in (("deactivate", False), ("reactivate", True)):
        bp.add_url_rule(
            f"/{_slug}/<int:item_id>/{_verb}",
            _verb,
            active,
            defaults={"kind": _slug, "active": _active},
            methods=["POST"],
        )
