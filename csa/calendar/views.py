"""The pickup calendar: the coming rounds at a glance, the coordinator's changes to them, the
sent-messages list and each member's private calendar feed.

Views are thin: check the form, call csa/rounds/lifecycle.py, commit once, flash, redirect.
Farmers may look at the calendar; only coordinators and admins change it. Adding and reopening
a round post to the rounds feature's endpoints (rounds.create, rounds.reopen) with a `next`
back to these weeks, so each has one endpoint and one form.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import force_locale, format_date, format_datetime, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError

from csa.calendar import ical
from csa.calendar.extras import feed_events
from csa.calendar.forms import CancelForm, MoveForm
from csa.changes.terms import terms_over
from csa.core.clock import to_local
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import (
    Hold,
    HoldMode,
    Member,
    Membership,
    MembershipStatus,
    OutboxMessage,
    OutboxState,
    PickupSite,
    Role,
    Round,
    RoundStatus,
)
from csa.notices.notify import notify_moved
from csa.rounds import lifecycle as cal
from csa.rounds.lifecycle import farm_today
from csa.share.notes import round_notes
from csa.ui.access import FIELD, STAFF, public, roles
from csa.ui.args import page_arg, parse_day
from csa.ui.forms import EmptyForm, flash_errors
from csa.ui.labels import OUTBOX_STATE_LABELS, ROUND_STATUS_LABELS

bp = Blueprint("calendar", __name__)

WEEKS_SHOWN = 8
MESSAGES_PER_PAGE = 50
TOKEN_MAX = 64  # Member.calendar_token's column width; longer is never a token

STATUS_LABELS = ROUND_STATUS_LABELS


# --- helpers ---------------------------------------------------------------------------


def week_start(day: date) -> date:
    """The Monday of the day's week: the calendar pages by whole weeks."""
    return day - timedelta(days=day.weekday())


def rhythm_label(site: PickupSite) -> str:
    """Say in words how often a site hands out shares (see csa.schedule.Rhythm)."""
    every = max(1, site.every_weeks)
    if every == 1:
        return _("weekly")
    if every == 2:
        if site.week_offset % 2:
            return _("every other week (odd ISO weeks)")
        return _("every other week (even ISO weeks)")
    return _(
        "every %(n)s weeks (ISO weeks where week %% %(n)s = %(offset)s)",
        n=every,
        offset=site.week_offset % every,
    )


def _cutoff_text(round_: Round) -> str:
    """The cutoff in the farm's zone: the database holds naive UTC."""
    if round_.cutoff_at is None:
        return ""
    local = to_local(round_.cutoff_at, current_app.config["TIMEZONE"])
    return str(format_datetime(local, "short", rebase=False))


def _day_text(day: date) -> str:
    return str(format_date(day, "medium"))


def _back() -> str:
    """Back to the weeks the coordinator was looking at (the form's `from`), if any."""
    first = parse_day(request.args.get("from"))
    if first is None:
        return url_for("calendar.index")
    args: dict[str, Any] = {"from": first.isoformat()}  # "from" is a keyword in Python
    return url_for("calendar.index", **args)


def _round_action(
    round_id: int, form: FlaskForm, action: Callable[[Round], str]
) -> ResponseReturnValue:
    """Validate, run the service, commit once and flash; on any error write nothing."""
    round_ = db.get_or_404(Round, round_id)
    back = _back()
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(back)
    try:
        message = action(round_)
    except ValidationFailed as exc:
        db.session.rollback()
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(back)


# --- the calendar ----------------------------------------------------------------------


@bp.route("/")
@roles(*FIELD)
def index() -> ResponseReturnValue:
    today = farm_today()
    first = week_start(parse_day(request.args.get("from")) or today)
    last = first + timedelta(weeks=WEEKS_SHOWN, days=-1)
    rows = cal.calendar(first, last)
    next_round = None
    if not rows:
        next_round = db.session.scalar(
            select(Round.date).where(Round.date > last).order_by(Round.date).limit(1)
        )
    sites = db.session.scalars(
        select(PickupSite).order_by(PickupSite.active.desc(), PickupSite.weekday, PickupSite.name)
    ).all()
    return render_template(
        "calendar/index.html",
        rows=rows,
        next_round=next_round,
        first=first,
        last=last,
        today=today,
        earlier=first - timedelta(weeks=WEEKS_SHOWN),
        later=first + timedelta(weeks=WEEKS_SHOWN),
        this_week=week_start(today),
        sites=sites,
        rhythm_label=rhythm_label,
        cutoff_text=_cutoff_text,
        day_text=_day_text,
        status_labels=STATUS_LABELS,
        round_link="rounds.show" in current_app.view_functions,
        can_change=current_user.role in STAFF,
        timezone=current_app.config["TIMEZONE"],
        weeks_ahead=current_app.config["ROUNDS_WEEKS_AHEAD"],
        cancel_form=CancelForm(formdata=None),
        move_form=MoveForm(formdata=None),
    )


@bp.route("/rounds/<int:round_id>/cancel", methods=["POST"])
@roles(*STAFF)
def cancel(round_id: int) -> ResponseReturnValue:
    form = CancelForm()

    def act(round_: Round) -> str:
        cal.cancel_round(round_, (form.reason.data or "").strip(), current_user)
        return _("The round of %(date)s is cancelled.", date=_day_text(round_.date))

    return _round_action(round_id, form, act)


@bp.route("/rounds/<int:round_id>/move", methods=["POST"])
@roles(*STAFF)
def move(round_id: int) -> ResponseReturnValue:
    form = MoveForm()

    def act(round_: Round) -> str:
        new_date: date = form.new_date.data
        old = round_.date
        if new_date == old:
            return _("The round stays on %(date)s.", date=_day_text(old))
        cal.move_round(round_, new_date, current_user)
        # The households are told in the transaction of the move: both saved, or neither.
        told = notify_moved(round_, old)
        moved = _(
            "The round of %(old)s is moved to %(new)s; it still feeds the same sites.",
            old=_day_text(old),
            new=_day_text(new_date),
        )
        notice = ngettext(
            "%(num)d e-mail to the households concerned is queued.",
            "%(num)d e-mails to the households concerned are queued.",
            told,
        )
        return f"{moved} {notice}"

    return _round_action(round_id, form, act)


@bp.route("/generate", methods=["POST"])
@roles(*STAFF)
def generate() -> ResponseReturnValue:
    back = _back()
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(back)
    weeks = int(current_app.config["ROUNDS_WEEKS_AHEAD"])
    try:
        created = cal.ensure_rounds(farm_today(), weeks)
        db.session.commit()
    except IntegrityError:
        # The scheduler (or another coordinator) created the same rounds a moment ago.
        db.session.rollback()
        flash(_("The rounds were being created elsewhere at the same time; try again."), "error")
        return redirect(back)
    if created:
        flash(
            ngettext(
                "%(num)d round created for the coming %(weeks)d weeks.",
                "%(num)d rounds created for the coming %(weeks)d weeks.",
                len(created),
                weeks=weeks,
            ),
            "success",
        )
    else:
        flash(
            ngettext(
                "Nothing to create: the rounds of the coming week exist already.",
                "Nothing to create: the rounds of the coming %(num)d weeks exist already.",
                weeks,
            ),
            "info",
        )
    return redirect(back)


# --- sent messages ---------------------------------------------------------------------


def _visible_messages() -> Select[OutboxMessage]:
    """The outbox rows the current user may read: staff logins' invitations are for admins."""
    query = select(OutboxMessage)
    if current_user.role != Role.ADMIN:
        query = query.where(OutboxMessage.admin_only.is_(False))
    return query


@bp.route("/messages")
@roles(*STAFF)
def messages() -> ResponseReturnValue:
    """Every queued, sent and failed message, newest first; failed ones can be listed apart."""
    state = request.args.get("state", "")
    query = _visible_messages()
    if state in set(OutboxState):
        query = query.where(OutboxMessage.state == OutboxState(state))
    else:
        state = ""
    page = db.paginate(
        query.order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc()),
        page=page_arg(),
        per_page=MESSAGES_PER_PAGE,
        error_out=False,
    )
    failed = db.session.scalar(
        select(func.count()).select_from(
            _visible_messages().where(OutboxMessage.state == OutboxState.FAILED).subquery()
        )
    )
    return render_template(
        "calendar/messages.html",
        page=page,
        local=_local_text,
        state=state,
        failed=failed or 0,
        state_labels=OUTBOX_STATE_LABELS,
    )


@bp.route("/messages/<int:message_id>")
@roles(*STAFF)
def message(message_id: int) -> ResponseReturnValue:
    row = db.first_or_404(_visible_messages().where(OutboxMessage.id == message_id))
    return render_template(
        "calendar/message.html",
        message=row,
        local=_local_text,
        state_labels=OUTBOX_STATE_LABELS,
    )


def _local_text(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = to_local(moment, current_app.config["TIMEZONE"])
    return str(format_datetime(local, "short", rebase=False))


# --- the private calendar feed -----------------------------------------------------------


def _member_events(member: Member, today: date) -> list[ical.Event]:
    """One event per round of each current membership's site, cancelled ones marked so."""
    tz = ZoneInfo(current_app.config["TIMEZONE"])
    memberships = [
        m
        for m in db.session.scalars(
            select(Membership).where(
                Membership.member_id == member.id,
                Membership.status == MembershipStatus.ACTIVE,
                Membership.end >= today,
            )
        )
    ]
    if not memberships:
        # A household without a membership of its own (a share partner) still has the
        # events other features add.
        return feed_events(member, today)
    rounds = db.session.scalars(
        select(Round)
        .where(
            Round.date >= min(m.start for m in memberships),
            Round.date <= max(m.end for m in memberships),
        )
        .order_by(Round.date)
    ).all()
    holds = {
        (h.membership_id, h.round_date): h.mode
        for h in db.session.scalars(
            select(Hold).where(Hold.membership_id.in_([m.id for m in memberships]))
        )
    }
    events = []
    for m in memberships:
        terms = terms_over(m, {r.date for r in rounds})  # the site in force on each date
        served = [
            r
            for r in rounds
            if m.start <= r.date <= m.end and terms[r.date].site.serves(r.schedule_date)
        ]
        # What other features say about each round (who collects, an offer, site duty).
        notes = round_notes(m, served)
        for r in served:
            site = terms[r.date].site
            cancelled = r.status == RoundStatus.CANCELLED
            if cancelled:
                note = _("Cancelled: %(reason)s", reason=r.cancel_reason)
            elif holds.get((m.id, r.date)) == HoldMode.DONATE:
                note = _("You are away this round; your share is donated.")
            elif holds.get((m.id, r.date)) == HoldMode.OTHERS:
                note = _("You are away this round; your share goes to the other members.")
            else:
                note = ""
            if r.moved_from and r.moved_from != r.date:
                moved = _("Moved from %(date)s.", date=format_date(r.moved_from, "full"))
                note = f"{moved} {note}" if note else moved
            note = " ".join([note, *(n.text for n in notes.get(r.id, []))]).strip()
            events.append(
                ical.Event(
                    uid=f"round-{r.id}-membership-{m.id}@csa",
                    start=datetime.combine(r.date, site.opens, tzinfo=tz),
                    end=datetime.combine(r.date, site.closes, tzinfo=tz),
                    summary=_("Pickup: %(site)s", site=site.name),
                    location=site.address,
                    description=note,
                    status="CANCELLED" if cancelled else "CONFIRMED",
                )
            )
    return events + feed_events(member, today)


@bp.route("/feed/<token>.ics")
@public
def feed(token: str) -> ResponseReturnValue:
    # The secret token in the URL is the authentication: calendar apps send no cookies.
    if not token or len(token) > TOKEN_MAX:
        abort(404)
    member = db.session.scalar(select(Member).where(Member.calendar_token == token))
    if member is None:
        abort(404)
    cfg = current_app.config
    locale = member.locale if member.locale in cfg["LANGUAGES"] else cfg["BABEL_DEFAULT_LOCALE"]
    with force_locale(locale):
        events = _member_events(member, farm_today())
        name = _("%(farm)s: pickups", farm=cfg["FARM_NAME"])
    body = ical.render_calendar(events, name, stamp=datetime.now(UTC))
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": 'inline; filename="pickups.ics"',
            "Cache-Control": "private, max-age=900",
            "X-Robots-Tag": "noindex",
            "Referrer-Policy": "no-referrer",
        },
    )
