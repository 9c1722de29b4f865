"""The waiting list: coordinators see and reorder each site's list with its offers; a
household answers an offer at a public link (it may have no login yet).

Views are thin: check the form, call csa/waitlist/offers.py or csa/register/waiting.py,
commit once, flash, redirect.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import select

from csa.core.clock import utcnow
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Membership, MembershipStatus, PlaceOffer, Season
from csa.register import waiting
from csa.rounds.lifecycle import farm_today
from csa.ui.access import STAFF, public, roles
from csa.ui.args import id_arg
from csa.ui.forms import EmptyForm, flash_errors, refuse
from csa.ui.labels import OFFER_STATE_LABELS
from csa.waitlist import offers, queries
from csa.waitlist.forms import AnswerForm

bp = Blueprint("waitlist", __name__)


@bp.context_processor
def labels() -> dict[str, object]:
    return {"offer_state_labels": OFFER_STATE_LABELS}


def _default_season() -> Season | None:
    today = farm_today()
    coming = offers.seasons_to_fill(today)
    if coming:
        return coming[0]
    return db.session.scalar(select(Season).order_by(Season.start.desc()).limit(1))


@bp.route("/")
@roles(*STAFF)
def index() -> ResponseReturnValue:
    """Each site's waiting list of a season, in order, with the offers and their state."""
    seasons = queries.seasons()
    season_id = id_arg("season")
    season = next((s for s in seasons if s.id == season_id), None) or _default_season()
    return render_template(
        "waitlist/index.html",
        seasons=seasons,
        season=season,
        lists=queries.site_lists(season) if season else [],
        form=EmptyForm(),
        expiry_days=current_app.config["OFFER_EXPIRY_DAYS"],
    )


def _back(season_id: int | None) -> ResponseReturnValue:
    return redirect(url_for("waitlist.index", season=season_id))


def _move(membership_id: int, steps: int) -> ResponseReturnValue:
    membership = db.get_or_404(Membership, membership_id)
    season_id = membership.season_id
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back(season_id)
    if membership.status != MembershipStatus.WAITING:
        flash(_("%(name)s is not on a waiting list.", name=membership.member.name), "error")
        return _back(season_id)
    waiting.move(membership, steps)
    position = waiting.position(membership)
    name = membership.member.name
    db.session.commit()
    flash(_("%(name)s is now at position %(position)s.", name=name, position=position), "success")
    return _back(season_id)


@bp.route("/memberships/<int:membership_id>/up", methods=["POST"])
@roles(*STAFF)
def move_up(membership_id: int) -> ResponseReturnValue:
    """Move a waiting household one place up its site's list."""
    return _move(membership_id, -1)


@bp.route("/memberships/<int:membership_id>/down", methods=["POST"])
@roles(*STAFF)
def move_down(membership_id: int) -> ResponseReturnValue:
    """Move a waiting household one place down its site's list."""
    return _move(membership_id, 1)


@bp.route("/offers/<int:offer_id>/withdraw", methods=["POST"])
@roles(*STAFF)
def withdraw(offer_id: int) -> ResponseReturnValue:
    """Take an open offer back (the household is told and keeps its place on the list)."""
    offer = db.get_or_404(PlaceOffer, offer_id)
    season_id = offer.season_id
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back(season_id)
    try:
        offers.withdraw(offer, utcnow())
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back(season_id)
    name = offer.membership.member.name
    db.session.commit()
    flash(_("The offer to %(name)s is withdrawn; they were told.", name=name), "success")
    return _back(season_id)


@bp.route("/offer/<token>", methods=["GET", "POST"])
@public
def offer(token: str) -> ResponseReturnValue:
    """A household's offer of a place: what, where, from when, until when; accept or decline.

    A GET changes nothing. A link that was used, withdrawn or expired says so.
    """
    found = offers.offer_by_token(token)
    if found is None:
        abort(404)
    now = utcnow()
    today = farm_today(now)
    form = AnswerForm()
    status = 200
    if form.is_submitted():
        status = 400
        if not form.validate():
            flash_errors(form)
        elif bool(form.accept.data) == bool(form.decline.data):
            flash(_("Choose to accept or to decline the place."), "error")
        else:
            try:
                if form.accept.data:
                    offers.accept(found, now, today)
                    done = _("Welcome! The place is yours; a confirmation is on its way by e-mail.")
                else:
                    offers.decline(found, now)
                    done = _("You declined the place. Thank you for telling us.")
            except ValidationFailed as exc:
                refuse(None, exc)
            else:
                db.session.commit()
                flash(done, "success")
                return redirect(url_for("waitlist.offer", token=token))
        found = offers.offer_by_token(token)
        if found is None:  # pragma: no cover - the row cannot vanish in a rollback
            abort(404)
    return render_template(
        "waitlist/offer.html",
        offer=found,
        form=form,
        problem=offers.refusal(found, now),
        first_round=offers.first_round(found.site, found.season, today),
    ), status
