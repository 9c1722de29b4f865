"""The member register: memberships, members, farm setup and users. Coordinators only.

Views are thin: check the form, call csa.register.operations, commit once, flash, redirect.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from babel import Locale
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
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from werkzeug.utils import secure_filename

from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import (
    Crop,
    Member,
    Membership,
    MembershipStatus,
    PickupSite,
    Role,
    Season,
    ShareType,
    User,
)
from csa.register import csv_io as register_csv
from csa.register import operations as svc
from csa.register.forms import (
    ROLE_LABELS,
    STATUS_LABELS,
    CropForm,
    ImportForm,
    MemberForm,
    MembershipForm,
    NewMembershipForm,
    PickupSiteForm,
    RegisterFilterForm,
    RoleForm,
    SeasonForm,
    ShareTypeForm,
    StaffUserForm,
    options,
)
from csa.ui.access import STAFF, roles
from csa.ui.formatting import format_money, unit_label, weekday_name
from csa.ui.forms import EmptyForm

bp = Blueprint("register", __name__)

PER_PAGE = 100
MAX_IMPORT_BYTES = 5 * 1024 * 1024
ID = re.compile(r"^[0-9]{1,9}$")


@bp.context_processor
def labels() -> dict[str, Any]:
    """Give the register's templates the translated status and role names."""
    return {"status_labels": STATUS_LABELS, "role_labels": ROLE_LABELS, "unit_label": unit_label}


@bp.app_template_filter("money")
def money(cents: int) -> str:
    return format_money(cents)


def _fail(form: FlaskForm | None, exc: ValidationFailed) -> None:
    """Undo what the service started and show its message next to the field it names."""
    db.session.rollback()
    field = getattr(exc, "field", None)
    if form is not None and field and field in form:
        form[field].errors = [*form[field].errors, str(exc)]
    else:
        flash(str(exc), "error")


def _status(form: FlaskForm) -> int:
    """A form that was sent and not accepted answers 400; a fresh one 200."""
    return 400 if form.is_submitted() else 200


def _id(value: str) -> int | None:
    """A row id from the query string, or None for anything else (never a 500 or an overflow)."""
    return int(value) if ID.match(value) else None


def _int_arg(name: str) -> int | None:
    """Read an id from the query string, ignoring anything that is not one."""
    return _id(request.args.get(name, ""))


# --- the register ----------------------------------------------------------------------


def _register_filter() -> tuple[svc.RegisterFilter, Season | None, RegisterFilterForm]:
    """Read the list's filters from the query string; no season given means the default one."""
    seasons = db.session.scalars(select(Season).order_by(Season.start.desc())).all()
    sites = db.session.scalars(select(PickupSite).order_by(PickupSite.name)).all()
    types = db.session.scalars(select(ShareType).order_by(ShareType.weight_milli)).all()
    season_arg = request.args.get("season", "")
    season: Season | None
    if season_arg == "all":
        season = None
    elif _id(season_arg) is not None:
        season = next((s for s in seasons if s.id == _id(season_arg)), None)
    else:
        season = svc.default_season()
    status_arg = request.args.get("status", "")
    status = MembershipStatus(status_arg) if status_arg in set(MembershipStatus) else None
    flt = svc.RegisterFilter(
        q=request.args.get("q", "")[:200],
        season_id=season.id if season else None,
        site_id=_int_arg("site"),
        share_type_id=_int_arg("share_type"),
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
    page = db.paginate(svc.memberships_select(flt), per_page=PER_PAGE, error_out=False)
    args = {k: v for k, v in request.args.items() if k != "page"}
    args["season"] = str(season.id) if season else "all"
    return render_template(
        "register/memberships.html",
        form=form,
        page=page,
        season=season,
        args=args,
        site_counts=svc.site_counts(season) if season else [],
        type_counts=svc.share_type_counts(season) if season else [],
        action_form=EmptyForm(),
    )


@bp.route("/export.csv")
@roles(*STAFF)
def export() -> ResponseReturnValue:
    """Download the filtered register as CSV, in the columns the import reads."""
    flt, season, _form = _register_filter()
    text = register_csv.export_members(db.session.scalars(svc.memberships_select(flt)))
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
        default = svc.default_season()
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
    )


@bp.route("/memberships/new", methods=["GET", "POST"])
@roles(*STAFF)
def membership_new() -> ResponseReturnValue:
    """Sign a household up for a season, adding it to the register if its e-mail is new."""
    member_id = _int_arg("member")
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
            _fail(form, exc)
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
            "status": membership.status.value,
        }
    )
    _membership_choices(form, membership)
    if form.validate_on_submit():
        try:
            svc.update_membership(membership, _membership_data(form))
        except ValidationFailed as exc:
            _fail(form, exc)
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
            _fail(None, exc)
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


def _locale_choices(current: str) -> list[tuple[str, str]]:
    """Each language in its own words, so a member's language is easy to recognise."""
    codes = list(current_app.config["LANGUAGES"])
    if current and current not in codes:
        codes.append(current)  # keep a language set by an import or an older setup
    choices = []
    for code in codes:
        try:
            label = (Locale.parse(code).display_name or code).capitalize()
        except (ValueError, LookupError):
            label = code
        choices.append((code, label))
    return choices


@bp.route("/members/<int:member_id>", methods=["GET", "POST"])
@roles(*STAFF)
def member(member_id: int) -> ResponseReturnValue:
    """Show a household with its memberships over the seasons and edit its details."""
    household = db.get_or_404(Member, member_id)
    form = MemberForm(obj=household)
    form.locale.choices = options(_locale_choices(household.locale))
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
            _fail(form, exc)
        else:
            db.session.commit()
            flash(_("%(name)s is saved.", name=household.name), "success")
            return redirect(url_for("register.member", member_id=household.id))
    return render_template(
        "register/member.html", member=household, form=form, action_form=EmptyForm()
    ), _status(form)


def _show_invitation(user: User, token: str, member: Member | None) -> ResponseReturnValue:
    """Show the link on screen (it is never put in a URL) and e-mail it when mail is set up."""
    link = url_for("auth.set_password", token=token, _external=True)
    mailed = False
    if current_app.config["MAIL_SERVER"]:
        try:
            mailed = svc.mail_invitation(user, link, token)
        except ValidationFailed as exc:
            flash(str(exc), "warning")
    db.session.commit()
    return render_template(
        "register/invite.html",
        user=user,
        link=link,
        mailed=mailed,
        member=member,
        invite_days=svc.invite_days(),
    )


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
        _fail(None, exc)
        return redirect(url_for("register.member", member_id=member_id))
    return _show_invitation(user, token, household)


# --- farm setup ------------------------------------------------------------------------


@bp.route("/settings")
@roles(*STAFF)
def settings() -> ResponseReturnValue:
    """Link the four lists of the farm setup, with how many of each are active."""

    def count(model: Any) -> tuple[int, int]:
        """How many rows of a setting are active, and how many there are."""
        total = db.session.scalar(select(func.count(model.id))) or 0
        active = db.session.scalar(select(func.count(model.id)).where(model.active.is_(True)))
        return active or 0, total

    sections = [
        ("register.seasons", _("Seasons"), count(Season)),
        ("register.share_types", _("Share types"), count(ShareType)),
        ("register.sites", _("Pickup sites"), count(PickupSite)),
        ("register.crops", _("Crops"), count(Crop)),
    ]
    return render_template("register/settings.html", sections=sections)


def _setting_page(
    form: FlaskForm, save: Callable[[], Any], title: str, back: str
) -> ResponseReturnValue:
    """Save a season, share type, site or crop from its form, or show the form again."""
    if form.validate_on_submit():
        try:
            saved = save()
        except ValidationFailed as exc:
            _fail(form, exc)
        else:
            db.session.commit()
            flash(_("%(name)s is saved.", name=saved.name), "success")
            return redirect(url_for(back))
    return render_template(
        "register/setting_form.html", form=form, title=title, back=back
    ), _status(form)


def _setting_active(obj: Any, active: bool, back: str) -> ResponseReturnValue:
    """Deactivate or reactivate a setting from a bare button."""
    if EmptyForm().validate_on_submit():
        svc.set_active(obj, active)
        db.session.commit()
        if active:
            flash(_("%(name)s is active again.", name=obj.name), "success")
        else:
            flash(_("%(name)s is deactivated.", name=obj.name), "success")
    return redirect(url_for(back))


def _setting_list(template: str, model: Any, order: Any) -> ResponseReturnValue:
    """List a setting's rows, the active ones first."""
    items = db.session.scalars(select(model).order_by(model.active.desc(), order)).all()
    # Not "items": base.html sets that name for the navigation.
    return render_template(template, entries=items, action_form=EmptyForm())


@bp.route("/seasons")
@roles(*STAFF)
def seasons() -> ResponseReturnValue:
    """List the seasons."""
    return _setting_list("register/seasons.html", Season, Season.start.desc())


@bp.route("/seasons/new", methods=["GET", "POST"], endpoint="season_new")
@bp.route("/seasons/<int:item_id>/edit", methods=["GET", "POST"])
@roles(*STAFF)
def season_edit(item_id: int | None = None) -> ResponseReturnValue:
    """Create or change a season."""
    season = db.get_or_404(Season, item_id) if item_id is not None else None
    form = SeasonForm(obj=season)
    return _setting_page(
        form,
        lambda: svc.save_season(
            season, name=form.name.data or "", start=form.start.data, end=form.end.data
        ),
        season.name if season else _("New season"),
        "register.seasons",
    )


@bp.route(
    "/seasons/<int:item_id>/deactivate",
    methods=["POST"],
    endpoint="season_deactivate",
    defaults={"active": False},
)
@bp.route(
    "/seasons/<int:item_id>/reactivate",
    methods=["POST"],
    endpoint="season_reactivate",
    defaults={"active": True},
)
@roles(*STAFF)
def season_active(item_id: int, active: bool) -> ResponseReturnValue:
    """Deactivate or reactivate a season."""
    return _setting_active(db.get_or_404(Season, item_id), active, "register.seasons")


@bp.route("/share-types")
@roles(*STAFF)
def share_types() -> ResponseReturnValue:
    """List the share types."""
    return _setting_list("register/share_types.html", ShareType, ShareType.weight_milli)


@bp.route("/share-types/new", methods=["GET", "POST"], endpoint="share_type_new")
@bp.route("/share-types/<int:item_id>/edit", methods=["GET", "POST"])
@roles(*STAFF)
def share_type_edit(item_id: int | None = None) -> ResponseReturnValue:
    """Create or change a share type; weight and price take a decimal comma."""
    share_type = db.get_or_404(ShareType, item_id) if item_id is not None else None
    data = (
        {
            "name": share_type.name,
            "weight": share_type.weight_milli,
            "price": share_type.price_cents,
        }
        if share_type
        else None
    )
    form = ShareTypeForm(data=data)
    return _setting_page(
        form,
        lambda: svc.save_share_type(
            share_type,
            name=form.name.data or "",
            weight_milli=form.weight.data or 0,
            price_cents=form.price.data or 0,
        ),
        share_type.name if share_type else _("New share type"),
        "register.share_types",
    )


@bp.route(
    "/share-types/<int:item_id>/deactivate",
    methods=["POST"],
    endpoint="share_type_deactivate",
    defaults={"active": False},
)
@bp.route(
    "/share-types/<int:item_id>/reactivate",
    methods=["POST"],
    endpoint="share_type_reactivate",
    defaults={"active": True},
)
@roles(*STAFF)
def share_type_active(item_id: int, active: bool) -> ResponseReturnValue:
    """Deactivate or reactivate a share type."""
    return _setting_active(db.get_or_404(ShareType, item_id), active, "register.share_types")


@bp.route("/sites")
@roles(*STAFF)
def sites() -> ResponseReturnValue:
    """List the pickup sites."""
    return _setting_list("register/sites.html", PickupSite, PickupSite.name)


@bp.route("/sites/new", methods=["GET", "POST"], endpoint="site_new")
@bp.route("/sites/<int:item_id>/edit", methods=["GET", "POST"])
@roles(*STAFF)
def site_edit(item_id: int | None = None) -> ResponseReturnValue:
    """Create or change a pickup site and its opening rhythm."""
    site = db.get_or_404(PickupSite, item_id) if item_id is not None else None
    form = PickupSiteForm(obj=site)
    return _setting_page(
        form,
        lambda: svc.save_site(
            site,
            name=form.name.data or "",
            address=form.address.data or "",
            weekday=form.weekday.data,
            opens=form.opens.data,
            closes=form.closes.data,
            capacity=form.capacity.data or 0,
            every_weeks=form.every_weeks.data,
            week_offset=form.week_offset.data,
        ),
        site.name if site else _("New pickup site"),
        "register.sites",
    )


@bp.route(
    "/sites/<int:item_id>/deactivate",
    methods=["POST"],
    endpoint="site_deactivate",
    defaults={"active": False},
)
@bp.route(
    "/sites/<int:item_id>/reactivate",
    methods=["POST"],
    endpoint="site_reactivate",
    defaults={"active": True},
)
@roles(*STAFF)
def site_active(item_id: int, active: bool) -> ResponseReturnValue:
    """Deactivate or reactivate a pickup site."""
    return _setting_active(db.get_or_404(PickupSite, item_id), active, "register.sites")


@bp.route("/crops")
@roles(*STAFF)
def crops() -> ResponseReturnValue:
    """List the crops."""
    return _setting_list("register/crops.html", Crop, Crop.name)


@bp.route("/crops/new", methods=["GET", "POST"], endpoint="crop_new")
@bp.route("/crops/<int:item_id>/edit", methods=["GET", "POST"])
@roles(*STAFF)
def crop_edit(item_id: int | None = None) -> ResponseReturnValue:
    """Create or change a crop; the step takes a decimal comma."""
    crop = db.get_or_404(Crop, item_id) if item_id is not None else None
    data = {"name": crop.name, "unit": crop.unit, "step": crop.step_milli} if crop else None
    form = CropForm(data=data)
    return _setting_page(
        form,
        lambda: svc.save_crop(
            crop,
            name=form.name.data or "",
            unit=form.unit.data or "",
            step_milli=form.step.data or 0,
        ),
        crop.name if crop else _("New crop"),
        "register.crops",
    )


@bp.route(
    "/crops/<int:item_id>/deactivate",
    methods=["POST"],
    endpoint="crop_deactivate",
    defaults={"active": False},
)
@bp.route(
    "/crops/<int:item_id>/reactivate",
    methods=["POST"],
    endpoint="crop_reactivate",
    defaults={"active": True},
)
@roles(*STAFF)
def crop_active(item_id: int, active: bool) -> ResponseReturnValue:
    """Deactivate or reactivate a crop."""
    return _setting_active(db.get_or_404(Crop, item_id), active, "register.crops")


# --- users -----------------------------------------------------------------------------


@bp.route("/users")
@roles(Role.ADMIN)
def users() -> ResponseReturnValue:
    """List the logins for admins, optionally of one role."""
    role_arg = request.args.get("role", "")
    stmt = select(User).order_by(User.active.desc(), User.role, User.email)
    if role_arg in set(Role):
        stmt = stmt.where(User.role == Role(role_arg))
    page = db.paginate(stmt, per_page=PER_PAGE, error_out=False)
    return render_template(
        "register/users.html",
        page=page,
        role=role_arg,
        action_form=EmptyForm(),
        role_form=RoleForm(),
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles(Role.ADMIN)
def user_new() -> ResponseReturnValue:
    """Create a staff login and show its set-password link."""
    form = StaffUserForm()
    if form.validate_on_submit():
        try:
            user, token = svc.create_staff_user(
                form.email.data or "", form.name.data or "", Role(form.role.data)
            )
        except ValidationFailed as exc:
            _fail(form, exc)
        else:
            return _show_invitation(user, token, None)
    return render_template("register/user_form.html", form=form), _status(form)


@bp.route("/users/<int:user_id>/role", methods=["POST"])
@roles(Role.ADMIN)
def user_role(user_id: int) -> ResponseReturnValue:
    """Change a login's role (never one's own)."""
    user = db.get_or_404(User, user_id)
    form = RoleForm()
    if form.validate_on_submit():
        try:
            svc.set_role(user, Role(form.role.data), current_user)
        except ValidationFailed as exc:
            _fail(None, exc)
        else:
            db.session.commit()
            flash(
                _("%(email)s is now %(role)s.", email=user.email, role=ROLE_LABELS[user.role]),
                "success",
            )
    else:
        flash(_("Choose a role."), "error")
    return redirect(url_for("register.users"))


@bp.route(
    "/users/<int:user_id>/deactivate",
    methods=["POST"],
    endpoint="user_deactivate",
    defaults={"active": False},
)
@bp.route(
    "/users/<int:user_id>/reactivate",
    methods=["POST"],
    endpoint="user_reactivate",
    defaults={"active": True},
)
@roles(Role.ADMIN)
def user_active(user_id: int, active: bool) -> ResponseReturnValue:
    """Deactivate or reactivate a login (never one's own)."""
    user = db.get_or_404(User, user_id)
    if EmptyForm().validate_on_submit():
        try:
            svc.set_user_active(user, active, current_user)
        except ValidationFailed as exc:
            _fail(None, exc)
        else:
            db.session.commit()
            if active:
                flash(_("%(email)s can sign in again.", email=user.email), "success")
            else:
                flash(_("%(email)s can no longer sign in.", email=user.email), "success")
    return redirect(url_for("register.users"))


@bp.route("/users/<int:user_id>/invite", methods=["POST"])
@roles(Role.ADMIN)
def user_invite(user_id: int) -> ResponseReturnValue:
    """Show a fresh set-password link for a login."""
    user = db.get_or_404(User, user_id)
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("register.users"))
    try:
        token = svc.user_invitation(user)
    except ValidationFailed as exc:
        _fail(None, exc)
        return redirect(url_for("register.users"))
    return _show_invitation(user, token, user.member)
