"""The member register: memberships, members and users. Coordinators only (users: admins).

Views are thin: check the form, call csa.register.operations, commit once, flash, redirect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import format_date, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.utils import secure_filename

from csa.accounts import household as comembers
from csa.accounts import operations as accounts
from csa.accounts.invitations import show_invitation
from csa.changes.terms import in_force
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import (
    HoldMode,
    Member,
    Membership,
    MembershipStatus,
    PickupSite,
    Role,
    Season,
    ShareType,
)
from csa.notices.notify import notify_holds_by_staff
from csa.register import csv_io as register_csv
from csa.register import operations as svc
from csa.register import queries
from csa.register.forms import (
    STATUS_LABELS,
    ImportForm,
    MemberForm,
    MembershipForm,
    NewMembershipForm,
    RegisterFilterForm,
    StaffHoldForm,
)
from csa.rounds import lifecycle as rounds_svc
from csa.rounds.lifecycle import farm_today
from csa.share import operations as share_ops
from csa.share import queries as share_queries
from csa.ui.access import STAFF, roles
from csa.ui.args import id_arg, page_arg, parse_id
from csa.ui.formatting import weekday_name
from csa.ui.forms import EmptyForm, options, refuse
from csa.ui.languages import language_choices

bp = Blueprint("register", __name__)

PER_PAGE = 100
MAX_IMPORT_BYTES = 5 * 1024 * 1024


@bp.context_processor
def labels() -> dict[str, Any]:
    """Give the register's templates the translated status names."""
    return {"status_labels": STATUS_LABELS}


def _status(form: FlaskForm) -> int:
    """A form that was sent and not accepted answers 400; a fresh one 200."""
    return 400 if form.is_submitted() else 200


# --- the register ----------------------------------------------------------------------


def _register_filter() -> tuple[queries.RegisterFilter, Season | None, RegisterFilterForm]:
    """Read the list's filters from the query string; no season given means the default one."""
    seasons = db.session.scalars(select(Season).order_by(Season.start.desc())).all()
    sites = db.session.scalars(select(PickupSite).order_by(PickupSite.name)).all()
    types = db.session.scalars(select(ShareType).order_by(ShareType.weight_milli)).all()
    season_arg = request.args.get("season", "")
    season: Season | None
    if season_arg == "all":
        season = None
    elif parse_id(season_arg) is not None:
        season = next((s for s in seasons if s.id == parse_id(season_arg)), None)
    else:
        season = queries.default_season()
    status_arg = request.args.get("status", "")
    status = MembershipStatus(status_arg) if status_arg in set(MembershipStatus) else None
    flt = queries.RegisterFilter(
        q=request.args.get("q", "")[:200],
        season_id=season.id if season else None,
        site_id=id_arg("site"),
        share_type_id=id_arg("share_type"),
        status=status,
    )
    form = RegisterFilterForm(request.args)
    form.season.choices = options(
        [("all", _("All seasons")), *((str(s.id), s.name) for s in seasons)]
    )
    form.season.data = str(season.id) if season else "all"
    form.site.choices = options([("", _("All sites")), *((str(s.id), s.name) for s in sites)])
    form.share_type.choices = options(
        [("", _("All share types")), *((str(t.id), t.name) for t in types)]
    )
    form.status.choices = options(
        [
            ("", _("Any status")),
            *((s.value, str(lbl)) for s, lbl in STATUS_LABELS.items()),
        ]
    )
    return flt, season, form


@bp.route("/")
@roles(*STAFF)
def memberships() -> ResponseReturnValue:
    """List the register, filtered, with places taken per site and counts per share type."""
    flt, season, form = _register_filter()
    page = db.paginate(
        queries.memberships_select(flt), page=page_arg(), per_page=PER_PAGE, error_out=False
    )
    args = {k: v for k, v in request.args.items() if k != "page"}
    args["season"] = str(season.id) if season else "all"
    return render_template(
        "register/memberships.html",
        form=form,
        page=page,
        season=season,
        args=args,
        site_counts=queries.site_counts(season) if season else [],
        type_counts=queries.share_type_counts(season) if season else [],
        action_form=EmptyForm(),
        uninvited=svc.count_uninvited(),
    )


@bp.route("/export.csv")
@roles(*STAFF)
def export() -> ResponseReturnValue:
    """Download the filtered register as CSV, in the columns the import reads."""
    flt, season, _form = _register_filter()
    text = register_csv.export_members(db.session.scalars(queries.memberships_select(flt)))
    name = secure_filename(f"register-{season.name if season else 'all'}.csv") or "register.csv"
    # The BOM makes Excel read the file as UTF-8; the import accepts it.
    return Response(
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/import", methods=["GET", "POST"])
@roles(*STAFF)
def import_members() -> ResponseReturnValue:
    """Import a CSV file: everything or, if any line is wrong, nothing and the reasons."""
    form = ImportForm()
    problems: list[str] = []
    if form.validate_on_submit():
        data = form.file.data.read(MAX_IMPORT_BYTES + 1)
        try:
            if len(data) > MAX_IMPORT_BYTES:
                raise ValidationFailed(_("The file is larger than 5 MB."))
            summary = register_csv.import_members(data)
        except ValidationFailed as exc:
            db.session.rollback()
            problems = exc.problems
            if str(exc) not in problems:
                flash(str(exc), "error")
        else:
            db.session.commit()
            flash(summary.message(), "success")
            return redirect(url_for("register.memberships"))
    columns = ",".join(register_csv.COLUMNS)
    return render_template(
        "register/import.html", form=form, problems=problems, columns=columns
    ), _status(form)


# --- memberships -----------------------------------------------------------------------


def _membership_choices(form: MembershipForm, current: Membership | None = None) -> None:
    """Offer the active settings, plus whatever the membership uses now even if deactivated."""

    def rows(model: Any, order: Any, keep: Any) -> list[Any]:
        """The active rows of a setting, plus the one in use even if it was deactivated."""
        found = db.session.scalars(select(model).where(model.active.is_(True)).order_by(order))
        items = list(found)
        if keep is not None and keep not in items:
            items.insert(0, keep)
        return items

    form.season.choices = options(
        [
            (s.id, s.name)
            for s in rows(Season, Season.start.desc(), current.season if current else None)
        ]
    )
    form.share_type.choices = options(
        [
            (t.id, t.name)
            for t in rows(
                ShareType, ShareType.weight_milli, current.share_type if current else None
            )
        ]
    )
    form.site.choices = options(
        [
            (s.id, f"{s.name} ({weekday_name(s.weekday)})")
            for s in rows(PickupSite, PickupSite.name, current.site if current else None)
        ]
    )
    if current is None and request.method == "GET":
        default = queries.default_season()
        if default is not None:
            form.season.data = default.id


def _membership_data(form: MembershipForm) -> svc.MembershipData:
    """Collect the terms of a contract from a validated form."""
    return svc.MembershipData(
        season=db.get_or_404(Season, form.season.data),
        share_type=db.get_or_404(ShareType, form.share_type.data),
        site=db.get_or_404(PickupSite, form.site.data),
        shares=form.shares.data or 0,
        start=form.start.data,
        end=form.end.data,
        status=MembershipStatus(form.status.data),
        trial_end=form.trial_end.data,
    )


@bp.route("/memberships/new", methods=["GET", "POST"])
@roles(*STAFF)
def membership_new() -> ResponseReturnValue:
    """Sign a household up for a season, adding it to the register if its e-mail is new."""
    member_id = id_arg("member")
    member = db.get_or_404(Member, member_id) if member_id is not None else None
    form: MembershipForm = MembershipForm() if member else NewMembershipForm()
    _membership_choices(form)
    if form.validate_on_submit():
        reused = False
        try:
            if member is None:
                assert isinstance(form, NewMembershipForm)
                member = svc.member_by_email(form.email.data or "")
                reused = member is not None
                if member is None:
                    member = svc.create_member(
                        svc.MemberData(
                            name=form.name.data or "",
                            email=form.email.data or "",
                            phone=form.phone.data or "",
                            locale=current_app.config["BABEL_DEFAULT_LOCALE"],
                        )
                    )
            membership = svc.create_membership(member, _membership_data(form))
        except ValidationFailed as exc:
            refuse(form, exc)
            member = db.session.get(Member, member_id) if member_id is not None else None
        else:
            db.session.commit()
            if reused:
                flash(
                    _(
                        "%(email)s was in the register already; the membership is added "
                        "to %(name)s.",
                        email=membership.member.email,
                        name=membership.member.name,
                    ),
                    "info",
                )
            flash(
                _(
                    "%(name)s is signed up for %(season)s.",
                    name=membership.member.name,
                    season=membership.season.name,
                ),
                "success",
            )
            return redirect(url_for("register.member", member_id=membership.member_id))
    return render_template(
        "register/membership_form.html", form=form, member=member, membership=None
    ), _status(form)


@bp.route("/memberships/<int:membership_id>/edit", methods=["GET", "POST"])
@roles(*STAFF)
def membership_edit(membership_id: int) -> ResponseReturnValue:
    """Change a contract's terms."""
    membership = db.get_or_404(Membership, membership_id)
    form = MembershipForm(
        data={
            "season": membership.season_id,
            "share_type": membership.share_type_id,
            "shares": membership.shares,
            "site": membership.site_id,
            "start": membership.start,
            "end": membership.end,
            "trial_end": membership.trial_end,
            "status": membership.status.value,
        }
    )
    _membership_choices(form, membership)
    if form.validate_on_submit():
        try:
            svc.update_membership(membership, _membership_data(form))
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("The membership is saved."), "success")
            return redirect(url_for("register.member", member_id=membership.member_id))
    return render_template(
        "register/membership_form.html",
        form=form,
        member=membership.member,
        membership=membership,
        action_form=EmptyForm(),
    ), _status(form)


def _membership_action(
    membership_id: int, action: Callable[[Membership], None], done: str
) -> ResponseReturnValue:
    """Run a status change from a bare button and go back to the member's page."""
    membership = db.get_or_404(Membership, membership_id)
    member_id = membership.member_id
    if EmptyForm().validate_on_submit():
        try:
            action(membership)
        except ValidationFailed as exc:
            refuse(None, exc)
        else:
            db.session.commit()
            flash(done, "success")
    return redirect(url_for("register.member", member_id=member_id))


@bp.route("/memberships/<int:membership_id>/pause", methods=["POST"])
@roles(*STAFF)
def membership_pause(membership_id: int) -> ResponseReturnValue:
    """Pause a share while the member is away; it keeps its place."""
    return _membership_action(membership_id, svc.pause_membership, _("The membership is paused."))


@bp.route("/memberships/<int:membership_id>/resume", methods=["POST"])
@roles(*STAFF)
def membership_resume(membership_id: int) -> ResponseReturnValue:
    """Start a paused share again."""
    return _membership_action(
        membership_id, svc.resume_membership, _("The membership is active again.")
    )


@bp.route("/memberships/<int:membership_id>/end", methods=["POST"])
@roles(*STAFF)
def membership_end(membership_id: int) -> ResponseReturnValue:
    """End a contract for good (it stays on record)."""
    return _membership_action(membership_id, svc.end_membership, _("The membership has ended."))


# --- members ---------------------------------------------------------------------------


@bp.route("/members/<int:member_id>", methods=["GET", "POST"])
@roles(*STAFF)
def member(member_id: int) -> ResponseReturnValue:
    """Show a household with its memberships over the seasons and edit its details."""
    household = db.get_or_404(Member, member_id)
    form = MemberForm(obj=household)
    form.locale.choices = options(language_choices(household.locale))
    if form.validate_on_submit():
        try:
            svc.update_member(
                household,
                svc.MemberData(
                    name=form.name.data or "",
                    email=form.email.data or "",
                    phone=form.phone.data or "",
                    address=form.address.data or "",
                    notes=form.notes.data or "",
                    locale=form.locale.data or "",
                ),
            )
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("%(name)s is saved.", name=household.name), "success")
            return redirect(url_for("register.member", member_id=household.id))
    return _member_page(household, form=form), _status(form)


def _member_page(
    household: Member, form: MemberForm | None = None, hold_form: StaffHoldForm | None = None
) -> str:
    """The household's page: memberships, the hold form and log, its details."""
    if form is None:
        form = MemberForm(obj=household, formdata=None)
        form.locale.choices = options(language_choices(household.locale))
    today = farm_today()
    return render_template(
        "register/member.html",
        member=household,
        contact=comembers.contact_of(household),
        form=form,
        action_form=EmptyForm(),
        hold_form=hold_form or StaffHoldForm(prefix="hold", formdata=None),
        hold_membership=share_queries.current_membership(household, today),
        hold_log=queries.hold_log(household),
        # Each membership's share type, count and site in force today (csa/changes/terms.py).
        terms_today=in_force(today, [m.id for m in household.memberships]),
    )


@bp.route("/members/<int:member_id>/holds", methods=["POST"])
@roles(*STAFF)
def member_holds(member_id: int) -> ResponseReturnValue:
    """Put a hold for a household (one round or a range), or take holds off; audited, and
    the household is told by one e-mail."""
    household = db.get_or_404(Member, member_id)
    form = StaffHoldForm(prefix="hold")
    today = rounds_svc.farm_today()
    membership = share_queries.current_membership(household, today)
    if not form.validate_on_submit():
        return _member_page(household, hold_form=form), 400
    if membership is None:
        form.first.errors = [_("This household has no membership to put on hold.")]
        return _member_page(household, hold_form=form), 400
    first = form.first.data
    last = form.last.data or first
    try:
        if form.action.data == "clear":
            result = share_ops.clear_holds(membership, first, last, today, by=current_user)
        else:
            mode = HoldMode(form.mode.data)
            result = share_ops.set_holds(membership, first, last, mode, today, by=current_user)
        rounds = [line.round for line in result.changed]
        notify_holds_by_staff(membership, rounds, result.mode, current_user, result.log_ids)
    except ValidationFailed as exc:
        refuse(form, exc)
        return _member_page(household, hold_form=form), 400
    db.session.commit()
    days = ", ".join(str(format_date(line.round.date, "medium")) for line in result.changed)
    if result.mode is None:
        flash(_("Holds cancelled: %(days)s. The household is told.", days=days), "success")
    else:
        flash(_("On hold: %(days)s. The household is told.", days=days), "success")
    for line in result.skipped:
        flash(
            _("Not changed: %(reason)s", reason=line.refusal or ""),
            "info",
        )
    return redirect(url_for("register.member", member_id=household.id) + "#holds")


@bp.route("/members/<int:member_id>/invite", methods=["POST"])
@roles(*STAFF)
def member_invite(member_id: int) -> ResponseReturnValue:
    """Give a household its login and show the set-password link."""
    household = db.get_or_404(Member, member_id)
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("register.member", member_id=member_id))
    try:
        user, token = svc.invite_member(household, current_user)
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("register.member", member_id=member_id))
    return show_invitation(user, token, household)


INVITE_PREVIEW = 50  # households listed on the "invite everyone" page before "and N more"


@bp.route("/invite-all", methods=["GET", "POST"])
@roles(*STAFF)
def invite_all() -> ResponseReturnValue:
    """Invite every household that has no login yet (after an import): count, preview, send."""
    form = EmptyForm()
    count = svc.count_uninvited()
    mail_ready = bool(current_app.config["MAIL_SERVER"])
    if form.validate_on_submit():
        if not mail_ready:
            flash(
                _(
                    "E-mail is not set up (CSA_MAIL_SERVER), so nothing was sent. Give each "
                    "household its link from its page instead."
                ),
                "error",
            )
            return redirect(url_for("register.invite_all"))
        sent = svc.invite_everyone(
            current_user, lambda token: url_for("auth.set_password", token=token, _external=True)
        )
        db.session.commit()
        flash(
            ngettext(
                "%(num)d invitation is on its way; the outbox sends it within a minute.",
                "%(num)d invitations are on their way; the outbox sends them within minutes.",
                sent,
            ),
            "success",
        )
        return redirect(url_for("register.memberships"))
    preview = db.session.scalars(svc.uninvited_households().limit(INVITE_PREVIEW)).all()
    return render_template(
        "register/invite_all.html",
        form=form,
        count=count,
        preview=preview,
        mail_ready=mail_ready,
        invite_days=accounts.invite_days(),
    )


# --- the farm setup moved to csa/setup/views.py -----------------------------------------

# Old bookmarks (/register/seasons, /register/crops/3/edit, ...) land on the new pages. Only
# the pages one can open are kept; the deactivate and reactivate buttons post to the new URLs.
SETUP_KINDS = ("seasons", "share-types", "sites", "crops")


@bp.route("/settings", endpoint="settings")
@roles(*STAFF)
def setup_moved(
    kind: str | None = None, item_id: int | None = None, new: bool = False
) -> ResponseReturnValue:
    """Send an old farm-setup address to its new home, for good (301)."""
    if kind is None:
        target = url_for("setup.index")
    elif new:
        target = url_for("setup.new", kind=kind)
    elif item_id is not None:
        target = url_for("setup.edit", kind=kind, item_id=item_id)
    else:
        target = url_for("setup.list", kind=kind)
    return redirect(target, 301)


for _kind in SETUP_KINDS:
    bp.add_url_rule(f"/{_kind}", "setup_list", setup_moved, defaults={"kind": _kind})
    bp.add_url_rule(
        f"/{_kind}/new", "setup_new", setup_moved, defaults={"kind": _kind, "new": True}
    )
    bp.add_url_rule(
        f"/{_kind}/<int:item_id>/edit", "setup_edit", setup_moved, defaults={"kind": _kind}
    )


# Old bookmarks of the user pages, which moved to csa/accounts/views.py.
@bp.route("/users", endpoint="users_moved", defaults={"target": "auth.users"})
@bp.route("/users/new", endpoint="user_new_moved", defaults={"target": "auth.user_new"})
@roles(Role.ADMIN)
def users_moved(target: str) -> ResponseReturnValue:
    """Send an old user-management address to its new home, for good (301)."""
    return redirect(url_for(target), 301)
