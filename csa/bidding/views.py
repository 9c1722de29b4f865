"""The bidding round's pages: the coordinators' desk (budget, rounds, pledges, settling) and
the member's pledge page.

A member only ever sees its own household's pledge and price, and of the others only the
coverage: how many pledged and the total against the budget, never an amount of another
household. No URL names a membership: the member's page finds it from the signed-in login.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from csa.bidding import operations as svc
from csa.bidding import queries, rules
from csa.bidding.forms import (
    MODE_LABELS,
    STATE_LABELS,
    BudgetForm,
    OpenRoundForm,
    RangePledgeForm,
    SettleForm,
    SinglePledgeForm,
)
from csa.core.clock import utcnow
from csa.core.money import cents_to_str
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import BiddingMode, BiddingRound, BiddingState, Role, Season
from csa.money.profile import farm_profile
from csa.rounds.lifecycle import farm_today
from csa.ui.access import STAFF, roles
from csa.ui.args import id_arg, parse_id
from csa.ui.forms import EmptyForm, refuse

bp = Blueprint("bidding", __name__)


@bp.app_context_processor
def pledge_section() -> dict[str, Any]:
    """The member's section bar (templates/share/_sections.html) shows "Pledge" while a round
    of the household's season takes pledges; asked only when the bar is drawn."""

    def member_pledge_open() -> bool:
        member = getattr(current_user, "member", None)
        return member is not None and queries.pledge_open(member)

    return {"member_pledge_open": member_pledge_open}


@bp.context_processor
def labels() -> dict[str, Any]:
    return {"bidding_state_labels": STATE_LABELS, "bidding_mode_labels": MODE_LABELS}


def _explain(form: Any, message: str | None = None) -> None:
    """Say why a form was refused when no field shows it (an expired form, a hidden field)."""
    if "csrf_token" in form and form.csrf_token.errors:
        flash(_("The form expired; please try again."), "error")
    elif not any(f.errors for f in form):
        flash(message or _("Check the form below."), "error")


# --- the coordinators' desk ---------------------------------------------------------------------


def _index_page(
    season_id: int | None,
    budget_form: BudgetForm | None = None,
    open_form: OpenRoundForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    seasons, season = queries.chosen_season(season_id, farm_today())
    current = svc.current_round(season) if season else None
    settled = svc.settled_round(season) if season else None
    if season is not None and budget_form is None:
        budget_form = BudgetForm(formdata=None)
        budget_form.season.data = str(season.id)
        if season.budget_cents is not None:
            budget_form.budget.data = season.budget_cents
    if season is not None and open_form is None:
        open_form = OpenRoundForm(formdata=None)
        open_form.season.data = str(season.id)
        if current is not None and current.state == BiddingState.CLOSED:
            open_form.mode.data = BiddingMode.SINGLE.value
    return render_template(
        "bidding/index.html",
        section="bidding",
        seasons=seasons,
        season=season,
        rounds=svc.rounds_of(season) if season else [],
        current=current,
        settled=settled,
        figures=svc.figures(current) if current is not None else None,
        references=queries.type_references(season) if season else [],
        budget_form=budget_form,
        open_form=open_form,
        can_open=season is not None
        and settled is None
        and season.budget_cents is not None
        and (current is None or current.state != BiddingState.OPEN),
        currency=farm_profile().currency,
    ), status


@bp.route("/")
@roles(*STAFF)
def index() -> ResponseReturnValue:
    """A season's budget, its reference prices and its bidding rounds."""
    return _index_page(id_arg("season"))


def _posted_season(form: BudgetForm | OpenRoundForm) -> Season | None:
    season_id = parse_id(form.season.data)
    return db.session.get(Season, season_id) if season_id else None


@bp.route("/budget", methods=["POST"])
@roles(*STAFF)
def budget() -> ResponseReturnValue:
    form = BudgetForm()
    season = _posted_season(form)
    if season is None:
        flash(_("Choose a season."), "error")
        return _index_page(None, status=400)
    if form.validate_on_submit():
        try:
            svc.set_budget(season, form.budget.data)
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("The budget of %(season)s is saved.", season=season.name), "success")
            return redirect(url_for("bidding.index", season=season.id))
    _explain(form)
    return _index_page(season.id, budget_form=form, status=400)


@bp.route("/open", methods=["POST"])
@roles(*STAFF)
def open_round() -> ResponseReturnValue:
    form = OpenRoundForm()
    season = _posted_season(form)
    if season is None:
        flash(_("Choose a season."), "error")
        return _index_page(None, status=400)
    if form.validate_on_submit() and form.deadline.data is not None:
        try:
            round_ = svc.open_round(
                season, BiddingMode(form.mode.data), form.deadline.data, current_user, farm_today()
            )
            db.session.commit()
        except ValidationFailed as exc:
            refuse(form, exc)
        except IntegrityError:
            db.session.rollback()
            flash(_("Another round was opened at the same time; see it below."), "info")
            return redirect(url_for("bidding.index", season=season.id))
        else:
            flash(
                _(
                    "Bidding round %(number)s of %(season)s is open until %(date)s; "
                    "the households are told.",
                    number=round_.number,
                    season=season.name,
                    date=round_.deadline.isoformat(),
                ),
                "success",
            )
            return redirect(url_for("bidding.round_page", bidding_round_id=round_.id))
    _explain(form)
    return _index_page(season.id, open_form=form, status=400)


def _round_or_404(bidding_round_id: int) -> BiddingRound:
    round_ = db.session.get(BiddingRound, bidding_round_id)
    if round_ is None:
        abort(404)
    return round_


def _round_page(
    round_: BiddingRound, settle_form: SettleForm | None = None, status: int = 200
) -> ResponseReturnValue:
    seen = svc.figures(round_)
    settled = round_.state == BiddingState.SETTLED
    return render_template(
        "bidding/round.html",
        section="bidding",
        round=round_,
        figures=seen,
        results={r.membership_id: r for r in queries.results_of(round_)} if settled else {},
        memberships={m.id: m for m in seen.memberships},
        is_current=svc.current_round(round_.season) is round_,
        settle_form=settle_form or SettleForm(formdata=None),
        action_form=EmptyForm(),
        floor=farm_profile().pledge_floor_permille,
        percent_text=rules.percent_text,
        currency=farm_profile().currency,
    ), status


@bp.route("/round/<int:bidding_round_id>")
@roles(*STAFF)
def round_page(bidding_round_id: int) -> ResponseReturnValue:
    """A round: coverage, every pledge with its reason, and what settling gives (or gave)."""
    return _round_page(_round_or_404(bidding_round_id))


@bp.route("/round/<int:bidding_round_id>/settle", methods=["POST"])
@roles(*STAFF)
def settle(bidding_round_id: int) -> ResponseReturnValue:
    round_ = _round_or_404(bidding_round_id)
    form = SettleForm()
    if form.validate_on_submit():
        try:
            result = svc.settle(
                round_, current_user, utcnow(), accept_shortfall=bool(form.confirm.data)
            )
            db.session.commit()
        except ValidationFailed as exc:
            refuse(form, exc)
        except IntegrityError:
            db.session.rollback()  # settled at the same moment by another click or the job
            flash(_("This round was settled at the same time; the page shows it."), "info")
            return redirect(url_for("bidding.round_page", bidding_round_id=bidding_round_id))
        else:
            flash(
                _(
                    "Settled: %(count)s season prices are fixed and the households are told.",
                    count=len(result.prices),
                ),
                "success",
            )
            return redirect(url_for("bidding.round_page", bidding_round_id=round_.id))
    _explain(form, _("Nothing was settled."))
    return _round_page(_round_or_404(bidding_round_id), settle_form=form, status=400)


def _round_action(bidding_round_id: int, cancel: bool) -> ResponseReturnValue:
    round_ = _round_or_404(bidding_round_id)
    if not EmptyForm().validate_on_submit():
        flash(_("The form expired; please try again."), "error")
        return _round_page(round_, status=400)
    try:
        if cancel:
            svc.cancel_round(round_, utcnow())
        else:
            svc.close_round(round_, utcnow())
    except ValidationFailed as exc:
        refuse(None, exc)
        return _round_page(_round_or_404(bidding_round_id), status=400)
    db.session.commit()
    if cancel:
        flash(_("Bidding round %(number)s is cancelled.", number=round_.number), "success")
    else:
        flash(_("Bidding round %(number)s takes no more pledges.", number=round_.number), "success")
    return redirect(url_for("bidding.round_page", bidding_round_id=round_.id))


@bp.route("/round/<int:bidding_round_id>/close", methods=["POST"])
@roles(*STAFF)
def close(bidding_round_id: int) -> ResponseReturnValue:
    return _round_action(bidding_round_id, cancel=False)


@bp.route("/round/<int:bidding_round_id>/cancel", methods=["POST"])
@roles(*STAFF)
def cancel(bidding_round_id: int) -> ResponseReturnValue:
    return _round_action(bidding_round_id, cancel=True)


# --- the member's page -------------------------------------------------------------------------


def _pledge_form(
    entry: queries.HouseholdRound, formdata: bool = False
) -> RangePledgeForm | SinglePledgeForm:
    cls = RangePledgeForm if entry.round.mode == BiddingMode.RANGE else SinglePledgeForm
    form = cls() if formdata else cls(formdata=None)
    if not formdata:
        form.round.data = str(entry.round.id)
        if entry.pledge is not None:
            if isinstance(form, RangePledgeForm):
                form.least.data = entry.pledge.min_cents
                form.most.data = entry.pledge.max_cents
            else:
                form.amount.data = entry.pledge.max_cents
            form.reason.data = entry.pledge.reason
    return form


def _mine_page(
    forms: dict[int, RangePledgeForm | SinglePledgeForm] | None = None, status: int = 200
) -> ResponseReturnValue:
    member = current_user.member
    entries = queries.household_rounds(member) if member is not None else []
    forms = dict(forms or {})
    coverages = {}
    for entry in entries:
        forms.setdefault(entry.round.id, _pledge_form(entry))
        coverages[entry.round.id] = svc.coverage_of(entry.round, entry.references)
    floor = farm_profile().pledge_floor_permille
    return render_template(
        "bidding/mine.html",
        member=member,
        entries=entries,
        forms=forms,
        coverages=coverages,
        floor=floor,
        floor_cents={e.round.id: floor * e.reference // rules.PERMILLE for e in entries},
        today=farm_today(),
        cents_to_str=cents_to_str,
        currency=farm_profile().currency,
    ), status


@bp.route("/mine")
@roles(Role.MEMBER, Role.ADMIN)
def mine() -> ResponseReturnValue:
    """The household's pledge, the reference price and the coverage; then its season price."""
    return _mine_page()


@bp.route("/mine/pledge", methods=["POST"])
@roles(Role.MEMBER, Role.ADMIN)
def pledge() -> ResponseReturnValue:
    member = current_user.member
    if member is None:
        flash(_("Your login has no household: there is nothing to pledge for."), "error")
        return _mine_page(status=400)
    wanted = parse_id(request.form.get("round"))
    entry = next(
        (e for e in queries.household_rounds(member) if e.round.id == wanted and wanted), None
    )
    if entry is None:
        flash(_("This bidding round does not take your pledge."), "error")
        return _mine_page(status=400)
    form = _pledge_form(entry, formdata=True)
    if form.validate_on_submit():
        if isinstance(form, RangePledgeForm):
            least, most = form.least.data, form.most.data
        else:
            least = most = form.amount.data
        try:
            svc.pledge(
                entry.round,
                entry.membership,
                least,
                most,
                form.reason.data or "",
                current_user,
                farm_today(),
            )
            db.session.commit()
        except ValidationFailed as exc:
            refuse(form, exc)
        except IntegrityError:
            db.session.rollback()
            flash(_("Your pledge was sent twice; the page shows the one that was saved."), "info")
            return redirect(url_for("bidding.mine"))
        else:
            flash(_("Your pledge is saved. You can change it until the deadline."), "success")
            return redirect(url_for("bidding.mine"))
    _explain(form)
    return _mine_page({entry.round.id: form}, status=400)
