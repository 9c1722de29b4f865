"""Share partners: two or more households sharing one membership.

The coordinator links households of the register to a membership (`index`, `add`,
`remove`); each household of a shared membership sees on its own page (`mine`) who
collects each coming round, chooses turns or a plan, and swaps rounds with a partner.
A household only ever sees the memberships it shares: any other id answers 404. Who
collects reaches the pickup list, My share and the calendar feeds through the registries
set up in `_register` below.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime
from typing import cast
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    url_for,
)
from flask.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from csa.calendar import ical
from csa.calendar.extras import add_feed_events
from csa.changes.terms import InForce, in_force_one
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import (
    Member,
    Membership,
    MembershipStatus,
    PartnerPattern,
    PartnerSwap,
    PartnerSwapState,
    Role,
    Round,
    SharePartner,
)
from csa.partners import operations as svc
from csa.partners import privacy as _privacy  # noqa: F401 - registers the household data
from csa.partners import queries
from csa.partners.forms import (
    PATTERN_LABELS,
    AddPartnerForm,
    InviteForm,
    PatternForm,
    PlanForm,
    SwapAnswerForm,
    SwapForm,
)
from csa.rounds.lifecycle import farm_today
from csa.share.notes import RoundNote, add_round_notes
from csa.share.queries import current_membership
from csa.sheets.annotations import Annotations, add_annotator
from csa.ui.access import STAFF, roles
from csa.ui.forms import EmptyForm, flash_errors, refuse

bp = Blueprint("partners", __name__)


# --- who collects, everywhere --------------------------------------------------------------


def collects_text(name: str) -> str:
    return _("Collects: %(name)s", name=name)


def annotate(
    round_: Round, site_ids: Collection[int], memberships: Mapping[int, InForce]
) -> Annotations:
    """The pickup list's Notes cell of a shared membership: who collects this round."""
    found = queries.collectors_on(round_, memberships.keys())
    return Annotations(row_notes={mid: [collects_text(name)] for mid, name in found.items()})


def round_notes(membership: Membership, rounds: Sequence[Round]) -> dict[int, list[RoundNote]]:
    """My share and the membership household's calendar feed: who collects each round."""
    sharing = queries.sharing_of(membership)
    if sharing is None:
        return {}
    # The turns run over all the membership's rounds, whichever of them the page shows.
    who = queries.schedule(sharing).who
    shown = {r.id for r in rounds}
    # The link leads to the households' page; staff reading a member's share get none.
    member = current_user.is_authenticated and current_user.role == Role.MEMBER
    link, words = (url_for("partners.mine"), _("Share partners")) if member else ("", "")
    return {
        round_id: [RoundNote(collects_text(sharing.name_of(household)), link, words)]
        for round_id, household in who.items()
        if household is not None and round_id in shown
    }


def feed_events(member: Member, today: date) -> list[ical.Event]:
    """A partner household's calendar feed: the rounds it collects of a share not its own."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    events = []
    for sharing, r in queries.rounds_collected_by(member, today):
        site = in_force_one(sharing.membership, r.date).site
        events.append(
            ical.Event(
                uid=f"round-{r.id}-partner-{member.id}-membership-{sharing.membership.id}@csa",
                start=datetime.combine(r.date, site.opens, tzinfo=tz),
                end=datetime.combine(r.date, site.closes, tzinfo=tz),
                summary=_("Pickup: %(site)s", site=site.name),
                location=site.address,
                description=_(
                    "You collect the share of %(name)s (share partners).",
                    name=sharing.membership.member.name,
                ),
            )
        )
    return events


@bp.record_once
def _register(state: BlueprintSetupState) -> None:
    app = cast(Flask, state.app)
    add_annotator(app, annotate)
    add_round_notes(app, round_notes)
    add_feed_events(app, feed_events)


# --- the coordinator's page ----------------------------------------------------------------


def _memberships_to_share() -> list[Membership]:
    today = farm_today()
    return list(
        db.session.scalars(
            select(Membership)
            .join(Member, Member.id == Membership.member_id)
            .where(Membership.status == MembershipStatus.ACTIVE, Membership.end >= today)
            .order_by(Member.name, Membership.start, Membership.id)
        )
    )


@bp.route("/")
@roles(*STAFF)
def index() -> ResponseReturnValue:
    """Every shared membership with its households, and the form to link one more."""
    today = farm_today()
    sharings = [s for m in queries.shared_memberships() if (s := queries.sharing_of(m))]
    schedules = {
        s.membership.id: [line for line in queries.schedule(s).lines if line.round.date >= today][
            :4
        ]
        for s in sharings
    }
    members = list(db.session.scalars(select(Member).order_by(Member.name, Member.id)))
    return render_template(
        "partners/index.html",
        section="partners",
        sharings=sharings,
        schedules=schedules,
        memberships=_memberships_to_share(),
        members=members,
        form=AddPartnerForm(),
        remove_form=EmptyForm(),
    )


@bp.route("/add", methods=["POST"])
@roles(*STAFF)
def add() -> ResponseReturnValue:
    """Link a household of the register to a membership as its share partner."""
    form = AddPartnerForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(url_for("partners.index"))
    membership = db.session.get(Membership, form.membership.data) if form.membership.data else None
    member = db.session.get(Member, form.member.data) if form.member.data else None
    if membership is None:
        flash(_("Choose a membership of the register."), "error")
        return redirect(url_for("partners.index"))
    if member is None:
        flash(_("Choose a household of the register."), "error")
        return redirect(url_for("partners.index"))
    try:
        svc.add_partner(membership, member, current_user, farm_today())
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("partners.index"))
    owner, partner = membership.member.name, member.name
    db.session.commit()
    flash(_("%(partner)s now shares the membership of %(owner)s.", partner=partner, owner=owner),
          "success")  # fmt: skip
    return redirect(url_for("partners.index"))


@bp.route("/<int:share_partner_id>/remove", methods=["POST"])
@roles(*STAFF)
def remove(share_partner_id: int) -> ResponseReturnValue:
    """Unlink a partner household (its open swaps are withdrawn)."""
    partner = db.get_or_404(SharePartner, share_partner_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(url_for("partners.index"))
    name, owner = partner.member.name, partner.membership.member.name
    svc.remove_partner(partner, current_user, farm_today())
    db.session.commit()
    flash(_("%(partner)s no longer shares the membership of %(owner)s.", partner=name, owner=owner),
          "success")  # fmt: skip
    return redirect(url_for("partners.index"))


# --- a household's own page -----------------------------------------------------------------


def _own() -> Member | None:
    return current_user.member if current_user.is_authenticated else None


def _sharing_or_404(partner_membership_id: int) -> queries.Sharing:
    sharing = queries.sharing_for(partner_membership_id, _own(), farm_today())
    if sharing is None:
        abort(404)
    return sharing


def _back() -> ResponseReturnValue:
    return redirect(url_for("partners.mine"))


@bp.route("/mine")
@roles(Role.MEMBER)
def mine() -> ResponseReturnValue:
    """The shares this household takes part in: who collects each coming round, the pattern,
    the plan, swaps offered and received."""
    member = _own()
    today = farm_today()
    pages = []
    for sharing in queries.sharings_for(member, today) if member else []:
        lines = [line for line in queries.schedule(sharing).lines if line.round.date >= today]
        swaps = queries.open_swaps(sharing.membership.id)
        pages.append((sharing, lines, swaps))
    pattern_labels = {p.value: label for p, label in PATTERN_LABELS.items()}
    own = _own_membership(member, today) if member else None
    return render_template(
        "partners/mine.html",
        community="partners",
        member=member,
        pages=pages,
        pattern_form=PatternForm(),
        plan_form=PlanForm(),
        swap_form=SwapForm(),
        answer_form=SwapAnswerForm(),
        pattern_labels=pattern_labels,
        today=today,
        own=own,
        own_shared=any(page[0].membership.id == own.id for page in pages) if own else False,
        invite_form=InviteForm(),
    )


def _own_membership(member: Member, today: date) -> Membership | None:
    """The household's own membership it may share: this season's or the next, active."""
    found = current_membership(member, today)
    if found is None or found.status != MembershipStatus.ACTIVE or found.end < today:
        return None
    return found


@bp.route("/mine/<int:partner_membership_id>/invite", methods=["POST"])
@roles(Role.MEMBER)
def invite(partner_membership_id: int) -> ResponseReturnValue:
    """The membership's own household shares it with a household named by e-mail."""
    member = _own()
    today = farm_today()
    own = _own_membership(member, today) if member else None
    if own is None or own.id != partner_membership_id:
        abort(404)
    form = InviteForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    try:
        partner = svc.invite_partner(own, form.email.data or "", current_user, today)
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back()
    name = partner.member.name
    db.session.commit()
    flash(_("%(name)s now shares your membership; they were told by e-mail.", name=name),
          "success")  # fmt: skip
    return _back()


@bp.route("/mine/<int:partner_membership_id>/pattern", methods=["POST"])
@roles(Role.MEMBER)
def pattern(partner_membership_id: int) -> ResponseReturnValue:
    """Take turns or follow the households' plan."""
    sharing = _sharing_or_404(partner_membership_id)
    form = PatternForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    chosen = PartnerPattern(form.pattern.data)
    if svc.set_pattern(sharing, chosen, current_user, farm_today()):
        db.session.commit()
    if chosen == PartnerPattern.PLAN:
        flash(_("You follow your plan; rounds it leaves out take turns."), "success")
    else:
        flash(_("You take turns over the rounds held."), "success")
    return _back()


@bp.route("/mine/<int:partner_membership_id>/plan", methods=["POST"])
@roles(Role.MEMBER)
def plan(partner_membership_id: int) -> ResponseReturnValue:
    """Name who collects one coming round (or let it take its turn again)."""
    sharing = _sharing_or_404(partner_membership_id)
    form = PlanForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    if form.household.raw_data and form.household.raw_data[0] and form.household.data is None:
        flash(_("Choose one of the households sharing this membership."), "error")
        return _back()
    try:
        r = svc.set_plan(sharing, form.round.data, form.household.data, current_user, farm_today())
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back()
    day = format_date(r.date, "full")
    db.session.commit()
    flash(_("The plan for %(date)s is saved.", date=day), "success")
    return _back()


@bp.route("/mine/<int:partner_membership_id>/swap", methods=["POST"])
@roles(Role.MEMBER)
def swap(partner_membership_id: int) -> ResponseReturnValue:
    """Offer a partner one of the rounds this household collects."""
    sharing = _sharing_or_404(partner_membership_id)
    member = _own()
    assert member is not None  # _sharing_or_404 found the household in the sharing
    form = SwapForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    other_raw = form.other_round.raw_data[0] if form.other_round.raw_data else ""
    if other_raw and form.other_round.data is None:
        flash(_("Choose one of the coming rounds of this share."), "error")
        return _back()
    try:
        offered = svc.propose_swap(
            sharing,
            member,
            form.round.data,
            form.partner.data,
            form.other_round.data,
            current_user,
            farm_today(),
        )
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back()
    name = offered.with_member.name
    db.session.commit()
    flash(_("The swap is offered to %(name)s.", name=name), "success")
    return _back()


@bp.route("/swaps/<int:partner_swap_id>/answer", methods=["POST"])
@roles(Role.MEMBER)
def answer(partner_swap_id: int) -> ResponseReturnValue:
    """Accept or decline a swap offered to this household, or withdraw its own offer."""
    found = db.session.get(PartnerSwap, partner_swap_id)
    member = _own()
    if (
        found is None
        or member is None
        or member.id not in (found.by_member_id, found.with_member_id)
    ):
        abort(404)
    sharing = _sharing_or_404(found.membership_id)
    form = SwapAnswerForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    chosen = [name for name in svc.ANSWERS if getattr(form, name).data]
    if len(chosen) != 1:
        flash(_("Choose to accept, decline or withdraw the swap."), "error")
        return _back()
    try:
        state = svc.answer_swap(sharing, found, member, chosen[0], current_user, farm_today())
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back()
    db.session.commit()
    done = {
        PartnerSwapState.ACCEPTED: _("Swap accepted: the rounds changed hands."),
        PartnerSwapState.DECLINED: _("Swap declined."),
        PartnerSwapState.WITHDRAWN: _("Swap withdrawn."),
    }
    flash(done[state], "success")
    return _back()
