"""My share: what is in this week's share, where and when to collect it, holds and opt-outs.

A member's share is three pages reached in one tap (one job per page): *this week* (this
round and the coming ones, with holds), *the season* (past rounds and the season so far)
and *settings* (crops never wanted, the calendar feed). Each reads only its own part,
so the page members open most does the least work. A member only ever sees its own
household: any URL naming another membership answers 404, as if it did not exist.
Coordinators see a member's three parts on one read-only page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from csa.calendar.links import feed_url
from csa.changes.terms import in_force_one
from csa.errors import CsaError, ValidationFailed
from csa.extensions import db
from csa.models import Crop, HoldMode, Member, Membership, Role
from csa.renewal import queries as renewal_queries
from csa.rounds import lifecycle as rounds_svc
from csa.rounds import table as tables
from csa.rounds.split import membership_split, round_on
from csa.share import operations as svc
from csa.share import queries
from csa.share.forms import ClearRangeForm, HoldForm, HoldRangeForm, OptOutForm
from csa.share.notes import round_notes
from csa.ui import charts
from csa.ui.access import STAFF, roles
from csa.ui.args import day_or_404, id_arg
from csa.ui.forms import EmptyForm, refuse
from csa.ui.labels import HOLD_LABELS, MEMBERSHIP_STATUS_LABELS
from csa.ui.labels import ROUND_STATUS_LABELS as STATUS_LABELS
from csa.waitlist import queries as waitlist
from csa.waitlist.offers import token_of as offer_token

bp = Blueprint("share", __name__)


@bp.context_processor
def labels() -> dict[str, Any]:
    return {
        "round_status_labels": STATUS_LABELS,
        "hold_labels": HOLD_LABELS,
        "membership_status_labels": MEMBERSHIP_STATUS_LABELS,
    }


@dataclass(frozen=True)
class SeasonLine:
    """One sentence of "Season so far", and its donated part (or "")."""

    text: str
    donated: str


def _parse_date(iso: str) -> dt.date:
    return day_or_404(iso)


def _own_member() -> Member | None:
    return current_user.member if current_user.is_authenticated else None


def _opt_out_form(
    membership: Membership,
    active: list[Crop] | None = None,
    opted_out: set[int] | None = None,
) -> OptOutForm:
    """The opt-out form; `active` and `opted_out` when the page has them loaded already."""
    form = OptOutForm()
    crops = queries.active_crops() if active is None else active
    form.crops.choices = [SelectChoice(c.id, c.name) for c in crops]
    if not form.is_submitted():
        form.crops.data = sorted(
            queries.opt_out_ids(membership) if opted_out is None else opted_out
        )
    return form


def _season_chart(
    rows: list[queries.SeasonRow], quantity: Callable[[int, str], str]
) -> Markup | None:
    """The season so far as bars: received per crop, with a mark at the fair share."""
    if not rows:
        return None
    bars = [
        charts.BarRow(
            label=row.crop.name,
            received=row.received,
            fair=row.fair_shown,
            donated=row.donated,
            text=_(
                "%(received)s of %(fair)s",
                received=quantity(row.received, row.crop.unit),
                fair=quantity(row.fair_shown, row.crop.unit),
            ),
        )
        for row in rows
    ]
    return charts.received_vs_fair(
        bars,
        chart_id="season-chart",
        title=_("Your season so far"),
        desc=_(
            "For each crop, a bar for what you received and a mark at your fair share; "
            "each crop has its own scale."
        ),
        fair_label=_("your fair share"),
        donated_label=_("donated") if any(row.donated for row in rows) else "",
    )


SECTIONS = {
    queries.WEEK: frozenset({queries.WEEK}),
    queries.SEASON: frozenset({queries.SEASON}),
    queries.SETTINGS: frozenset({queries.SETTINGS}),
    "all": queries.ALL_PARTS,  # a coordinator's look at a household
}


def _range_forms(
    range_form: HoldRangeForm | None = None, clear_form: ClearRangeForm | None = None
) -> tuple[HoldRangeForm, ClearRangeForm]:
    """The two range forms of "this week"; the one that was sent keeps what was typed."""
    return (
        range_form or HoldRangeForm(prefix="away", formdata=None),
        clear_form or ClearRangeForm(prefix="back", formdata=None),
    )


def _share_page(
    member: Member | None,
    editable: bool,
    section: str,
    *,
    range_form: HoldRangeForm | None = None,
    clear_form: ClearRangeForm | None = None,
    range_result: svc.RangeResult | None = None,
) -> str:
    """A section of the "my share" pages of a household; `editable` only for itself."""
    today = rounds_svc.farm_today()
    membership = queries.current_membership(member, today) if member else None
    offer = (
        waitlist.open_offer_for(member) if member and editable and section == queries.WEEK else None
    )
    offer_link = url_for("waitlist.offer", token=offer_token(offer)) if offer else None
    # The Next season page (csa/renewal/) is one tap away when it has something to decide.
    trial = renewal_queries.trial_of(member) if editable and member is not None else None
    next_season = trial is not None or (
        editable and member is not None and renewal_queries.renewal_of(member) is not None
    )
    if membership is None:
        return render_template(
            "share/mine.html",
            member=member,
            overview=None,
            section=section,
            editable=editable,
            offer=offer,
            offer_link=offer_link,
            next_season=next_season,
            trial=trial,
        )
    parts = SECTIONS[section]
    overview = queries.share_overview(membership, today, parts)
    # The page prints a quantity per crop of every past round: the formatter that looks the
    # locale's symbols up once (csa/rounds/table.py) prints the same as format_quantity.
    quantity = tables.CellText().quantity
    # Each sentence is translated once and filled per row: a gettext call per row of the
    # season and per crop of every past round was a third of the page's time.
    received = _("You received %(received)s of %(crop)s, your fair share was %(fair)s.")
    donated = _("(%(donated)s of it donated)")
    season_lines = [
        SeasonLine(
            received
            % {
                "received": quantity(row.received, row.crop.unit),
                "crop": row.crop.name,
                "fair": quantity(row.fair_shown, row.crop.unit),
            },
            donated % {"donated": quantity(row.donated, row.crop.unit)} if row.donated else "",
        )
        for row in overview.season
    ]
    shown = ([overview.current] if overview.current else []) + list(overview.upcoming)
    # What other features say about these rounds (csa/share/notes.py), in one ask each.
    notes = (
        round_notes(membership, [line.round for line in shown])
        if queries.WEEK in parts and shown
        else {}
    )
    past_texts = {
        line.round.id: ", ".join(
            f"{item.crop.name} {quantity(item.quantity, item.crop.unit)}" for item in line.received
        )
        for line in overview.past
    }
    return render_template(
        "share/mine.html",
        member=member,
        overview=overview,
        editable=editable,
        hold_form=HoldForm(),
        cancel_form=EmptyForm(),
        section=section,
        next_season=next_season,
        trial=trial,
        opt_out_form=(
            _opt_out_form(membership, overview.active_crops, overview.opted_out)
            if editable and queries.SETTINGS in parts
            else None
        ),
        opted_out=overview.opted_out,
        season_chart=_season_chart(overview.season, quantity),
        format_quantity=quantity,
        season_lines=season_lines,
        past_texts=past_texts,
        calendar_feed=(
            feed_url(member) if editable and member and queries.SETTINGS in parts else None
        ),
        offer=offer,
        offer_link=offer_link,
        range_forms=_range_forms(range_form, clear_form) if editable else None,
        range_result=range_result,
        notes=notes,
    )


@bp.route("/")
@roles(Role.MEMBER)
def mine() -> ResponseReturnValue:
    """This week: this round's share, where and when, and the coming rounds with holds."""
    return _share_page(_own_member(), editable=True, section=queries.WEEK)


@bp.route("/season")
@roles(Role.MEMBER)
def season() -> ResponseReturnValue:
    """The season: past rounds and what was received against the fair share."""
    return _share_page(_own_member(), editable=True, section=queries.SEASON)


@bp.route("/settings")
@roles(Role.MEMBER)
def settings() -> ResponseReturnValue:
    """Settings: crops never wanted and the private calendar feed."""
    return _share_page(_own_member(), editable=True, section=queries.SETTINGS)


@bp.route("/member/<int:member_id>")
@roles(*STAFF)
def member(member_id: int) -> ResponseReturnValue:
    return _share_page(db.get_or_404(Member, member_id), editable=False, section="all")


@bp.route("/round/<date>", endpoint="round")
@roles(Role.MEMBER, *STAFF)
def round_page(date: str) -> ResponseReturnValue:
    on_date = _parse_date(date)
    round_ = round_on(on_date)
    if round_ is None:
        abort(404)
    wanted = id_arg("membership")
    own = _own_member()
    if wanted is not None:
        membership = queries.get_membership(wanted)
        # Someone else's household answers 404 for a member, exactly like a missing one.
        if membership is None or (
            current_user.role == Role.MEMBER and (own is None or membership.member_id != own.id)
        ):
            abort(404)
    else:
        membership = queries.membership_on(own, on_date) if own else None
        if membership is None:
            abort(404)
    if round_.id not in {r.id for r in queries.membership_rounds(membership)}:
        abort(404)
    part = membership_split(round_, membership)
    text = tables.CellText()
    return render_template(
        "share/round.html",
        round=round_,
        membership=membership,
        terms=in_force_one(membership, round_.date),
        shares=part.received,
        crops=part.crops,
        hold=queries.holds_of(membership).get(round_.date),
        text=text,
        format_quantity=text.quantity,  # the formatter that looks the locale up once
        own=own is not None and membership.member_id == own.id,
    )


def _membership_for(on_date: dt.date) -> Membership:
    """The signed-in household's membership covering a date, or 404."""
    own = _own_member()
    membership = queries.membership_on(own, on_date) if own else None
    if membership is None:
        abort(404)
    return membership


@bp.route("/hold/<date>", methods=["POST"])
@roles(Role.MEMBER)
def hold(date: str) -> ResponseReturnValue:
    on_date = _parse_date(date)
    membership = _membership_for(on_date)
    form = HoldForm()
    if not form.validate_on_submit():
        flash(_("Choose what happens to your share while you are away."), "error")
        return redirect(url_for("share.mine"))
    try:
        svc.set_hold(
            membership, on_date, HoldMode(form.mode.data), rounds_svc.farm_today(), current_user
        )
    except CsaError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("share.mine"))
    db.session.commit()
    if form.mode.data == HoldMode.DONATE.value:
        flash(
            _("On hold on %(date)s: your share is donated.", date=format_date(on_date, "full")),
            "success",
        )
    else:
        flash(
            _(
                "On hold on %(date)s: your share goes to the others.",
                date=format_date(on_date, "full"),
            ),
            "success",
        )
    return redirect(url_for("share.mine"))


@bp.route("/hold/<date>/cancel", methods=["POST"])
@roles(Role.MEMBER)
def unhold(date: str) -> ResponseReturnValue:
    on_date = _parse_date(date)
    membership = _membership_for(on_date)
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("share.mine"))
    try:
        svc.clear_hold(membership, on_date, rounds_svc.farm_today(), current_user)
    except CsaError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("share.mine"))
    db.session.commit()
    flash(
        _("Hold cancelled: you collect your share on %(date)s.", date=format_date(on_date, "full")),
        "success",
    )
    return redirect(url_for("share.mine"))


def _range_page(
    form: HoldRangeForm | ClearRangeForm,
    act: Callable[[Membership, dt.date, dt.date, dt.date], svc.RangeResult],
) -> ResponseReturnValue:
    """Check a range form, run it on the household's current membership, commit once.

    A refusal shows the page again with the message next to the field (400), writing
    nothing; a success shows the page with what was done to each round of the range.
    """
    own = _own_member()
    today = rounds_svc.farm_today()
    membership = queries.current_membership(own, today) if own else None
    if membership is None:
        abort(404)
    range_form = form if isinstance(form, HoldRangeForm) else None
    clear_form = form if isinstance(form, ClearRangeForm) else None

    def again() -> ResponseReturnValue:
        page = _share_page(own, True, queries.WEEK, range_form=range_form, clear_form=clear_form)
        return page, 400

    if not form.validate_on_submit():
        return again()
    try:
        result = act(membership, form.first.data, form.last.data, today)
    except ValidationFailed as exc:
        refuse(form, exc)
        return again()
    db.session.commit()
    return _share_page(own, True, queries.WEEK, range_result=result)


@bp.route("/holds", methods=["POST"])
@roles(Role.MEMBER)
def hold_range() -> ResponseReturnValue:
    """Away for a while: hold every open round of a date range in one step."""
    form = HoldRangeForm(prefix="away")

    def act(m: Membership, first: dt.date, last: dt.date, today: dt.date) -> svc.RangeResult:
        mode = HoldMode(form.mode.data)
        return svc.set_holds(m, first, last, mode, today, by=current_user)

    return _range_page(form, act)


@bp.route("/holds/cancel", methods=["POST"])
@roles(Role.MEMBER)
def clear_range() -> ResponseReturnValue:
    """Back early: take the holds off every round of a date range that can still change."""
    form = ClearRangeForm(prefix="back")

    def act(m: Membership, first: dt.date, last: dt.date, today: dt.date) -> svc.RangeResult:
        return svc.clear_holds(m, first, last, today, by=current_user)

    return _range_page(form, act)


@bp.route("/opt-outs", methods=["POST"])
@roles(Role.MEMBER)
def opt_outs() -> ResponseReturnValue:
    own = _own_member()
    membership = queries.current_membership(own, rounds_svc.farm_today()) if own else None
    if membership is None:
        abort(404)
    form = _opt_out_form(membership)
    if not form.validate_on_submit():
        flash(_("Choose only crops from the list."), "error")
        return redirect(url_for("share.settings"))
    try:
        svc.set_opt_outs(membership, form.crops.data or [])
    except CsaError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("share.settings"))
    db.session.commit()
    flash(_("Saved: the crops you never want go to the others."), "success")
    return redirect(url_for("share.settings"))
