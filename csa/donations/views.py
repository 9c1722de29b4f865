"""Food sharing: the partner organisations, which site's donated shares each collects, what
each collects in a locked round (its pickup sheet), and the season's totals.

Coordinators keep the partners and routes; farmers see the desk, the rounds and the
sheets (they pack what goes out) but change nothing. A member sees the farm's totals and
the rounds its own household gave away, never another household's.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import cast

from flask import Blueprint, Flask, Response, abort, flash, redirect, render_template, url_for
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from csa.changes.terms import InForce
from csa.community.donated import donated_shares
from csa.donations import operations as svc
from csa.donations import queries
from csa.donations.forms import PartnerForm, RouteForm
from csa.donations.sheet import file_name, notice_attachment, sheet_pdf
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import (
    Hold,
    HoldMode,
    PartnerOrganisation,
    PickupSite,
    Role,
    Round,
)
from csa.notices import attachments
from csa.rounds.lifecycle import farm_today
from csa.share.queries import current_membership
from csa.sheets.annotations import Annotations, add_annotator
from csa.ui.access import FIELD, STAFF, roles
from csa.ui.forms import EmptyForm, flash_errors, options, refuse

bp = Blueprint("donations", __name__)


@bp.record_once
def _register(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    add_annotator(app, annotate)
    attachments.register(svc.ATTACHMENT_KIND, notice_attachment)


def annotate(
    round_: Round, site_ids: Collection[int], memberships: Mapping[int, InForce]
) -> Annotations:
    """On a site's pickup list: who collects the donated shares there, and when."""
    found = Annotations()
    if not site_ids:
        return found
    donated = {
        mid
        for mid, mode in db.session.execute(
            select(Hold.membership_id, Hold.mode).where(Hold.round_date == round_.date)
        )
        if mode == HoldMode.DONATE and mid in memberships
    }
    if round_.is_locked:
        donated |= {
            s.membership_id for s in donated_shares(round_) if s.membership_id in memberships
        }
    sites_with = {memberships[mid].site_id for mid in donated}
    for site_id, route in queries.routes().items():
        if site_id in site_ids and site_id in sites_with and route.partner.active:
            if route.note:
                text = _(
                    "Donated shares are collected by %(partner)s: %(note)s",
                    partner=route.partner.name,
                    note=route.note,
                )
            else:
                text = _("Donated shares are collected by %(partner)s.", partner=route.partner.name)
            found.site_notes[site_id] = [text]
    return found


# --- the desk --------------------------------------------------------------------------------


def _route_form(form: RouteForm | None = None) -> RouteForm:
    form = form or RouteForm(formdata=None)
    sites = db.session.scalars(select(PickupSite).where(PickupSite.active))
    form.site.choices = options((s.id, s.name) for s in sorted(sites, key=lambda s: s.name.lower()))
    form.partner.choices = options(
        [(0, _("nobody")), *((p.id, p.name) for p in queries.active_partners())]
    )
    return form


def _index(route_form: RouteForm | None = None, status: int = 200) -> ResponseReturnValue:
    today = farm_today()
    season = queries.shown_season(today)
    rounds = queries.season_rounds(season) if season else []
    by_site = queries.routes()
    sites = sorted(
        db.session.scalars(select(PickupSite).where(PickupSite.active)),
        key=lambda s: s.name.lower(),
    )
    return render_template(
        "donations/index.html",
        section="donations",
        partners=queries.all_partners(),
        routes=by_site,
        sites=sites,
        season=season,
        totals=queries.season_totals(season),
        rounds=list(reversed(rounds))[:12],
        route_form=_route_form(route_form) if current_user.role in STAFF else None,
        editable=current_user.role in STAFF,
        toggle_form=EmptyForm(formdata=None),
    ), status


@bp.route("/")
@roles(*FIELD)
def index() -> ResponseReturnValue:
    """The partners, which site's donations each collects, and the season's totals."""
    return _index()


def _partner_data(form: PartnerForm) -> svc.PartnerData:
    return svc.PartnerData(
        name=form.name.data or "",
        contact_name=form.contact_name.data or "",
        email=form.email.data or "",
        phone=form.phone.data or "",
        address=form.address.data or "",
        pickup_note=form.pickup_note.data or "",
        takes_surplus=bool(form.takes_surplus.data),
    )


@bp.route("/partners/new", methods=["GET", "POST"])
@roles(*STAFF)
def new_partner() -> ResponseReturnValue:
    """Add a partner organisation (a food bank, a foodsharing point)."""
    form = PartnerForm()
    if form.validate_on_submit():
        try:
            partner = svc.create_partner(_partner_data(form))
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("%(name)s was added.", name=partner.name), "success")
            return redirect(url_for("donations.index")), 303
    status = 400 if form.is_submitted() else 200
    return render_template(
        "donations/partner.html", section="donations", form=form, partner=None
    ), status


def _partner_or_404(partner_id: int) -> PartnerOrganisation:
    return db.get_or_404(PartnerOrganisation, partner_id)


@bp.route("/partners/<int:donation_partner_id>", methods=["GET", "POST"])
@roles(*STAFF)
def edit_partner(donation_partner_id: int) -> ResponseReturnValue:
    """Change a partner's name, contact, address or what it takes."""
    partner = _partner_or_404(donation_partner_id)
    form = PartnerForm(obj=partner)
    if form.validate_on_submit():
        try:
            svc.update_partner(partner, _partner_data(form))
        except ValidationFailed as exc:
            refuse(form, exc)
            partner = _partner_or_404(donation_partner_id)
        else:
            db.session.commit()
            flash(_("%(name)s was saved.", name=partner.name), "success")
            return redirect(url_for("donations.index")), 303
    status = 400 if form.is_submitted() else 200
    return render_template(
        "donations/partner.html",
        section="donations",
        form=form,
        partner=partner,
        sites=[r.site for r in queries.routes().values() if r.partner_id == partner.id],
        toggle_form=EmptyForm(formdata=None),
    ), status


@bp.route("/partners/<int:donation_partner_id>/deactivate", methods=["POST"])
@roles(*STAFF)
def deactivate_partner(donation_partner_id: int) -> ResponseReturnValue:
    """Stop giving to a partner: its routes end, it no longer takes the surplus."""
    partner = _partner_or_404(donation_partner_id)
    if not EmptyForm().validate_on_submit():
        flash(_("The form had expired; nothing was changed. Please try again."), "error")
        return redirect(url_for("donations.edit_partner", donation_partner_id=partner.id)), 303
    try:
        ended = svc.deactivate_partner(partner)
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("donations.index")), 303
    db.session.commit()
    flash(
        _(
            "%(name)s is inactive: it receives nothing from now on (routes ended: %(num)d).",
            name=partner.name,
            num=ended,
        ),
        "success",
    )
    return redirect(url_for("donations.index")), 303


@bp.route("/partners/<int:donation_partner_id>/reactivate", methods=["POST"])
@roles(*STAFF)
def reactivate_partner(donation_partner_id: int) -> ResponseReturnValue:
    """Take a partner back (its routes are set again on the desk)."""
    partner = _partner_or_404(donation_partner_id)
    if not EmptyForm().validate_on_submit():
        flash(_("The form had expired; nothing was changed. Please try again."), "error")
        return redirect(url_for("donations.index")), 303
    try:
        svc.reactivate_partner(partner)
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("donations.index")), 303
    db.session.commit()
    flash(_("%(name)s is active again.", name=partner.name), "success")
    return redirect(url_for("donations.index")), 303


@bp.route("/routes", methods=["POST"])
@roles(*STAFF)
def route() -> ResponseReturnValue:
    """Send one site's donated shares to a partner, or to nobody."""
    form = _route_form(RouteForm())
    if not form.validate_on_submit():
        flash_errors(form)
        return _index(form, 400)
    site = db.session.get(PickupSite, form.site.data)
    partner = db.session.get(PartnerOrganisation, form.partner.data) if form.partner.data else None
    if site is None or (form.partner.data and partner is None):
        abort(404)
    try:
        svc.set_route(site, partner, form.note.data or "")
    except ValidationFailed as exc:
        refuse(None, exc)
        return _index(form, 400)
    db.session.commit()
    if partner is None:
        flash(_("Nobody collects the donated shares at %(site)s now.", site=site.name), "success")
    else:
        flash(
            _(
                "%(partner)s collects the donated shares at %(site)s.",
                partner=partner.name,
                site=site.name,
            ),
            "success",
        )
    return redirect(url_for("donations.index")), 303


# --- a round ---------------------------------------------------------------------------------


def _locked_round_or_404(round_id: int) -> Round:
    round_ = db.get_or_404(Round, round_id)
    if not round_.is_locked:
        abort(404)
    return round_


@bp.route("/rounds/<int:donation_round_id>")
@roles(*FIELD)
def round_page(donation_round_id: int) -> ResponseReturnValue:
    """What each partner collects in a locked round, and what nobody collects."""
    round_ = _locked_round_or_404(donation_round_id)
    donations = queries.round_donations(round_)
    return render_template(
        "donations/round.html",
        section="donations",
        round=round_,
        donations=donations,
        notices=queries.notices_of(round_),
        settled=queries.settled(round_),
        mail_form=EmptyForm(formdata=None) if current_user.role in STAFF else None,
    )


@bp.route("/rounds/<int:donation_round_id>/mail/<int:donation_partner_id>", methods=["POST"])
@roles(*STAFF)
def mail_sheet(donation_round_id: int, donation_partner_id: int) -> ResponseReturnValue:
    """Mail a partner its sheet of a locked round now (once per round and partner)."""
    round_ = _locked_round_or_404(donation_round_id)
    partner = _partner_or_404(donation_partner_id)
    back = url_for("donations.round_page", donation_round_id=round_.id)
    if not EmptyForm().validate_on_submit():
        flash(_("The form had expired; nothing was changed. Please try again."), "error")
        return redirect(back), 303
    try:
        svc.mail_sheet(round_, partner)
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(back), 303
    db.session.commit()
    flash(_("The sheet goes to %(email)s.", email=partner.email), "success")
    return redirect(back), 303


@bp.route("/sheet/<int:donation_round_id>/<int:donation_partner_id>.pdf")
@roles(*FIELD)
def sheet(donation_round_id: int, donation_partner_id: int) -> ResponseReturnValue:
    """A partner's pickup sheet of a locked round, made now (a page or two)."""
    round_ = _locked_round_or_404(donation_round_id)
    partner = _partner_or_404(donation_partner_id)
    return Response(
        sheet_pdf(round_, partner),
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{file_name(round_, partner)}"',
            "Cache-Control": "no-store",
        },
    )


# --- the member's page ----------------------------------------------------------------------


@bp.route("/season")
@roles(Role.MEMBER)
def season() -> ResponseReturnValue:
    """What the farm gave away this season, and the rounds this household gave its share."""
    today = farm_today()
    member = current_user.member
    membership = current_membership(member, today) if member is not None else None
    season_ = membership.season if membership is not None else queries.shown_season(today)
    return render_template(
        "donations/season.html",
        community="donations",
        season=season_,
        totals=queries.season_totals(season_),
        own=queries.household_donations(membership) if membership is not None else [],
        partners=queries.active_partners(),
    )
