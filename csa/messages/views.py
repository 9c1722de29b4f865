"""Messages: coordinators write to a chosen set of households (farmers to a round's
members), see what became of each mail, hide a message; members read theirs; anyone with
an unsubscribe link may use it; site notes for a round.

Views are thin: check the form, call csa/messages/operations.py, commit once, flash,
redirect. A refusal rolls back (csa/ui/forms.refuse) and removes an attachment written.
"""

from __future__ import annotations

from typing import Any

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
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from csa.community.audiences import audiences
from csa.errors import ValidationFailed
from csa.extensions import csrf, db
from csa.messages import files, operations, privacy, queries
from csa.messages.audience import Choice, resolve
from csa.messages.forms import (
    ComposeForm,
    HideForm,
    SiteNoteForm,
    SubscriptionForm,
    UnsubscribeForm,
)
from csa.models import (
    AudienceKind,
    Member,
    Message,
    PickupSite,
    Role,
    Round,
    ShareType,
)
from csa.rounds.lifecycle import farm_today
from csa.share.notes import add_round_notes
from csa.sheets.annotations import add_annotator
from csa.ui.access import FIELD, STAFF, public, roles
from csa.ui.forms import flash_errors, options, refuse
from csa.ui.languages import language_choices

bp = Blueprint("messages", __name__)

REGISTERED = "registered:"


@bp.record_once
def _register(state: Any) -> None:
    app = state.app
    app.config.setdefault("MESSAGES_PER_HOUR", operations.DEFAULT_PER_HOUR)
    app.config.setdefault("MESSAGE_ATTACHMENT_MAX_BYTES", files.DEFAULT_MAX_BYTES)
    files.register()
    privacy.register()
    add_annotator(app, queries.annotate)
    add_round_notes(app, queries.round_notes)


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"recipient_state_label": queries.state_label}


def _staff() -> bool:
    return bool(current_user.has_role(*STAFF))


# --- the sent list and one message ------------------------------------------------------


@bp.route("/")
@roles(*FIELD)
def index() -> ResponseReturnValue:
    """The messages sent, newest first, with how many mails were sent, wait or failed."""
    return render_template(
        "messages/index.html",
        lines=queries.sent_list(rounds_only=not _staff()),
        staff=_staff(),
    )


def _staff_message(msg_id: int) -> Message:
    """A message as staff see it; a farmer sees only round messages."""
    message = db.get_or_404(Message, msg_id)
    if not _staff() and message.audience_kind != AudienceKind.ROUND:
        abort(404)
    return message


@bp.route("/<int:msg_id>")
@roles(*FIELD)
def detail(msg_id: int) -> ResponseReturnValue:
    """One message as sent, and each recipient's state (with the server's reply if it
    failed)."""
    message = _staff_message(msg_id)
    return render_template(
        "messages/detail.html",
        message=message,
        recipients=queries.recipients(message),
        hide_form=HideForm(),
        staff=_staff(),
    )


@bp.route("/<int:msg_id>/hide", methods=["POST"])
@roles(*STAFF)
def hide(msg_id: int) -> ResponseReturnValue:
    """Hide a message from the members' pages, or show it again."""
    message = db.get_or_404(Message, msg_id)
    form = HideForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(url_for("messages.detail", msg_id=msg_id))
    hidden = not form.show.data
    operations.hide(message, hidden)
    db.session.commit()
    flash(
        _("The message is hidden from members.") if hidden else _("Members see the message again."),
        "success",
    )
    return redirect(url_for("messages.detail", msg_id=msg_id))


def _attachment(message: Message) -> ResponseReturnValue:
    if not message.attachment_path:
        abort(404)
    try:
        data = files.read(message)
    except OSError:
        abort(404)
    return Response(
        data,
        mimetype=message.attachment_type,
        headers={
            "Content-Disposition": f'attachment; filename="{message.attachment_name}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@bp.route("/<int:msg_id>/attachment")
@roles(*FIELD)
def attachment(msg_id: int) -> ResponseReturnValue:
    return _attachment(_staff_message(msg_id))


# --- writing ----------------------------------------------------------------------------


def _compose_form() -> ComposeForm:
    form = ComposeForm()
    today = farm_today()
    rounds = queries.coming_rounds(today)
    form.round_id.choices = options((r.id, r.date.isoformat()) for r in rounds)
    if _staff():
        kinds = [
            ("active", _("Everyone with an active membership")),
            ("sites", _("Pickup sites")),
            ("share_types", _("Share types")),
            ("waiting", _("The waiting list")),
            ("household", _("One household")),
            ("round", _("The members of a round")),
        ]
        kinds += [(REGISTERED + key, str(a.label())) for key, a in audiences().items()]
        form.sites.choices = options(
            (s.id, s.name)
            for s in db.session.scalars(
                select(PickupSite).where(PickupSite.active).order_by(PickupSite.name)
            )
        )
        form.share_types.choices = options(
            (t.id, t.name)
            for t in db.session.scalars(
                select(ShareType).where(ShareType.active).order_by(ShareType.name)
            )
        )
        form.household.choices = options(
            [(0, _("Choose a household"))]
            + [
                (m.id, f"{m.name} <{m.email}>")
                for m in db.session.scalars(select(Member).order_by(Member.name, Member.id))
            ]
        )
    else:
        kinds = [("round", _("The members of a round"))]
        form.sites.choices = []
        form.share_types.choices = []
        form.household.choices = options([(0, "-")])
    form.audience.choices = options(kinds)
    form.locale2.choices = options([("", _("none")), *language_choices()])
    return form


def _choice(form: ComposeForm) -> Choice:
    value = str(form.audience.data or "")
    if value.startswith(REGISTERED):
        return Choice(AudienceKind.REGISTERED, key=value.removeprefix(REGISTERED))
    kind = AudienceKind(value)
    if kind == AudienceKind.SITES:
        return Choice(kind, ids=tuple(form.sites.data or ()))
    if kind == AudienceKind.SHARE_TYPES:
        return Choice(kind, ids=tuple(form.share_types.data or ()))
    if kind == AudienceKind.HOUSEHOLD:
        return Choice(kind, ids=(int(form.household.data or 0),))
    if kind == AudienceKind.ROUND:
        round_id = form.round_id.data
        valid = {int(c[0]) for c in form.round_id.iter_choices()}
        return Choice(kind, round_id=round_id if round_id in valid else None)
    return Choice(kind)


def _draft(form: ComposeForm) -> operations.Draft:
    return operations.Draft(
        subject=form.subject.data or "",
        body=form.body.data or "",
        locale2=form.locale2.data or "",
        subject2=form.subject2.data or "",
        body2=form.body2.data or "",
        essential=bool(form.essential.data) and _staff(),
    )


def _upload(form: ComposeForm) -> files.Upload | None:
    """The attached file, checked (FieldError), or None."""
    storage = form.attachment.data
    if storage is None or not getattr(storage, "filename", ""):
        return None
    data = storage.read(files.max_bytes() + 1)
    return files.check(str(storage.filename), data)


@bp.route("/new", methods=["GET", "POST"])
@roles(*FIELD)
def compose() -> ResponseReturnValue:
    """Write a message: Preview shows it with the number of households; Send queues it."""
    form = _compose_form()
    preview = None
    status = 200
    if form.is_submitted():
        if not form.validate():
            flash_errors(form)
            status = 400
        else:
            try:
                choice = _choice(form)
                upload = _upload(form)
                if form.send.data:
                    message, path = operations.send(
                        current_user, choice, _draft(form), farm_today(), upload
                    )
                    try:
                        db.session.commit()
                    except BaseException:
                        files.discard(path)
                        raise
                    count = len({r.member_id for r in message.recipients})
                    flash(
                        ngettext(
                            "The message is on its way to %(num)d household.",
                            "The message is on its way to %(num)d households.",
                            count,
                        ),
                        "success",
                    )
                    return redirect(url_for("messages.detail", msg_id=message.id))
                resolved = resolve(choice, farm_today())
                preview = {
                    "count": len(resolved.member_ids),
                    "audience": resolved.description,
                    "draft": _draft(form),
                    "attachment": upload.name if upload else "",
                }
            except ValidationFailed as exc:
                refuse(form, exc)
                status = 400
            except ValueError:
                db.session.rollback()
                flash(_("Choose whom to write to."), "error")
                status = 400
    return render_template(
        "messages/compose.html", form=form, preview=preview, staff=_staff()
    ), status


# --- site notes -------------------------------------------------------------------------


@bp.route("/notes", methods=["GET", "POST"])
@roles(*FIELD)
def notes() -> ResponseReturnValue:
    """The site notes of the coming rounds, and the form that writes one."""
    today = farm_today()
    rounds = queries.coming_rounds(today)
    form = SiteNoteForm()
    form.round_id.choices = options((r.id, r.date.isoformat()) for r in rounds)
    form.site_id.choices = options(
        (s.id, s.name)
        for s in db.session.scalars(
            select(PickupSite).where(PickupSite.active).order_by(PickupSite.name)
        )
    )
    status = 200
    if form.is_submitted():
        if not form.validate():
            flash_errors(form)
            status = 400
        else:
            round_ = db.session.get(Round, form.round_id.data)
            site = db.session.get(PickupSite, form.site_id.data)
            if round_ is None or site is None:  # pragma: no cover - the choices checked them
                abort(404)
            try:
                changed = operations.set_site_note(
                    site, round_, form.text.data or "", current_user, today
                )
            except ValidationFailed as exc:
                refuse(form, exc)
                status = 400
            else:
                db.session.commit()
                flash(
                    _("The note is saved.") if changed else _("Nothing changed."),
                    "success",
                )
                return redirect(url_for("messages.notes"))
    return render_template(
        "messages/notes.html",
        form=form,
        notes=queries.notes_of([r.id for r in rounds]),
    ), status


# --- unsubscribing ------------------------------------------------------------------------


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@public
@csrf.exempt
def unsubscribe(token: str) -> ResponseReturnValue:
    """A mail's unsubscribe link: a GET asks, a POST unsubscribes the household.

    A mail program's one-click POST (RFC 8058: the body `List-Unsubscribe=One-Click`) comes
    without a CSRF token and needs none: the link's token is the proof. The page's own form
    carries one.
    """
    recipient = operations.recipient_by_token(token)
    if recipient is None:
        abort(404)
    member_id = recipient.member_id
    form = UnsubscribeForm()
    if request.method == "POST":
        one_click = request.form.get("List-Unsubscribe") == "One-Click"
        if not one_click and not form.validate_on_submit():
            flash_errors(form)
            return render_template(
                "messages/unsubscribe.html", form=form, done=False, token=token
            ), 400
        operations.unsubscribe(member_id)
        db.session.commit()
        if one_click:
            return Response("", status=204)
        flash(_("You will get no more messages like this one."), "success")
        return redirect(url_for("messages.unsubscribe", token=token))
    return render_template(
        "messages/unsubscribe.html",
        form=form,
        done=operations.opted_out(member_id),
        token=token,
    )


# --- the member's inbox --------------------------------------------------------------------


def _member() -> Member:
    member = current_user.member if current_user.is_authenticated else None
    if member is None:
        abort(404)
    return member


@bp.route("/inbox")
@roles(Role.MEMBER)
def inbox() -> ResponseReturnValue:
    """The messages the farm sent this household."""
    member = _member()
    return render_template(
        "messages/inbox.html",
        messages=queries.inbox(member.id),
        opted_out=operations.opted_out(member.id),
        form=SubscriptionForm(),
        locale=_reader_locale(member),
    )


def _reader_locale(member: Member) -> str:
    return str(current_user.locale or member.locale or current_app.config["BABEL_DEFAULT_LOCALE"])


@bp.route("/inbox/subscription", methods=["POST"])
@roles(Role.MEMBER)
def subscription() -> ResponseReturnValue:
    """Stop or start the farm's non-essential messages by e-mail."""
    member = _member()
    form = SubscriptionForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(url_for("messages.inbox"))
    if form.resubscribe.data:
        operations.resubscribe(member.id)
        done = _("The farm's messages come by e-mail again.")
    else:
        operations.unsubscribe(member.id)
        done = _("You will get no more messages by e-mail; essential notices still come.")
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("messages.inbox"))


def _own_message(msg_id: int) -> Message:
    message = queries.message_for(_member().id, msg_id)
    if message is None:
        abort(404)
    return message


@bp.route("/inbox/<int:msg_id>")
@roles(Role.MEMBER)
def read(msg_id: int) -> ResponseReturnValue:
    """One message to this household (a 404 for any other, hidden or not)."""
    message = _own_message(msg_id)
    subject, body = operations.version_for(message, _reader_locale(_member()))
    return render_template("messages/read.html", message=message, subject=subject, body=body)


@bp.route("/inbox/<int:msg_id>/attachment")
@roles(Role.MEMBER)
def read_attachment(msg_id: int) -> ResponseReturnValue:
    return _attachment(_own_message(msg_id))
