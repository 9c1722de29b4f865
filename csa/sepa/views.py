"""The direct-debit desk (coordinators): mandates, pain.008 exports, batches collected or
returned; and the member's read-only view of its own mandate (`/sepa/mine`).

Views are thin: check the form, call csa.sepa.operations, commit once, flash, redirect.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import DebitBatch, DebitItem, Mandate, MandateKind, Member, Role
from csa.money.profile import farm_profile
from csa.rounds.lifecycle import farm_today
from csa.sepa import operations as svc
from csa.sepa import rules
from csa.sepa.forms import KIND_LABELS, ExportForm, MandateForm
from csa.ui.access import STAFF, roles
from csa.ui.args import id_arg
from csa.ui.forms import EmptyForm, options, refuse

bp = Blueprint("sepa", __name__)

RECENT_BATCHES = 50


def _expired() -> str:
    return _("The form had expired; nothing was changed. Please try again.")


@bp.app_template_filter("masked_iban")
def masked_iban(iban: str) -> str:
    return rules.mask_iban(iban)


@bp.route("/")
@roles(*STAFF)
def index() -> ResponseReturnValue:
    """Every mandate (in force first) and the latest batches, with their actions."""
    mandates = list(
        db.session.scalars(
            select(Mandate)
            .options(joinedload(Mandate.member))
            .join(Mandate.member)
            .order_by(Mandate.revoked_on.is_not(None), Member.name, Mandate.id)
        )
    )
    batches = list(
        db.session.scalars(select(DebitBatch).order_by(DebitBatch.id.desc()).limit(RECENT_BATCHES))
    )
    return render_template(
        "sepa/index.html",
        section="sepa",
        mandates=mandates,
        batches=batches,
        kind_labels=KIND_LABELS,
        action_form=EmptyForm(),
        profile=farm_profile(),
    )


def _member_choices(form: MandateForm) -> None:
    members = db.session.execute(select(Member.id, Member.name).order_by(Member.name, Member.id))
    form.member.choices = options((mid, name) for mid, name in members)


@bp.route("/mandates/new", methods=["GET", "POST"])
@roles(*STAFF)
def new_mandate() -> ResponseReturnValue:
    """Record the mandate a household signed (`?member=` picks the household)."""
    form = MandateForm()
    _member_choices(form)
    if not form.is_submitted():
        form.signed_on.data = farm_today()
        wanted = id_arg("member")
        if wanted is not None:
            form.member.data = wanted
            member = db.session.get(Member, wanted)
            if member is not None:
                form.holder_name.data = member.name[:70]
    if form.validate_on_submit():
        member = db.session.get(Member, form.member.data)
        try:
            if member is None:
                raise ValidationFailed(_("Choose a household from the list."))
            mandate = svc.record_mandate(
                member,
                holder_name=form.holder_name.data or "",
                iban=form.iban.data or "",
                bic=form.bic.data or "",
                reference=form.reference.data or "",
                signed_on=form.signed_on.data or farm_today(),
                kind=MandateKind(form.kind.data),
                by=current_user,
                today=farm_today(),
            )
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(
                _(
                    "The mandate %(reference)s of %(name)s is recorded.",
                    reference=mandate.reference,
                    name=member.name,
                ),
                "success",
            )
            return redirect(url_for("sepa.index")), 303
    status = 400 if form.is_submitted() else 200
    return render_template("sepa/mandate.html", form=form, section="sepa"), status


@bp.route("/mandates/<int:mandate_id>/revoke", methods=["POST"])
@roles(*STAFF)
def revoke(mandate_id: int) -> ResponseReturnValue:
    mandate = db.get_or_404(Mandate, mandate_id)
    if not EmptyForm().validate_on_submit():
        flash(_expired(), "error")
        return redirect(url_for("sepa.index")), 303
    try:
        svc.revoke_mandate(mandate, farm_today())
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("sepa.index")), 303
    db.session.commit()
    flash(_("The mandate %(reference)s is revoked.", reference=mandate.reference), "success")
    return redirect(url_for("sepa.index")), 303


@bp.route("/export", methods=["GET", "POST"])
@roles(*STAFF)
def export() -> ResponseReturnValue:
    """Choose the collection date and the due dates, and download the pain.008 file."""
    form = ExportForm()
    today = farm_today()
    if not form.is_submitted():
        form.collect_on.data = rules.earliest_collection(today)
        form.due_until.data = form.collect_on.data
    if form.validate_on_submit():
        try:
            batch = svc.export_batch(
                collect_on=form.collect_on.data or today,
                due_until=form.due_until.data or today,
                due_from=form.due_from.data,
                by=current_user,
                today=today,
            )
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            if batch is None:
                db.session.rollback()
                flash(
                    _("Nothing new to collect: every open invoice due then is in a batch already."),
                    "info",
                )
                return redirect(url_for("sepa.index")), 303
            db.session.commit()
            return _xml_download(batch)
    status = 400 if form.is_submitted() else 200
    return render_template(
        "sepa/export.html", form=form, section="sepa", profile=farm_profile()
    ), status


def _xml_download(batch: DebitBatch) -> Response:
    name = f"sepa-{batch.id}-{batch.collect_on.isoformat()}.xml"
    return Response(
        batch.xml.encode("utf-8"),
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/batches/<int:batch_id>.xml")
@roles(*STAFF)
def batch_file(batch_id: int) -> ResponseReturnValue:
    """A batch's file again, exactly as first exported."""
    return _xml_download(db.get_or_404(DebitBatch, batch_id))


@bp.route("/batches/<int:batch_id>/collect", methods=["POST"])
@roles(*STAFF)
def collect(batch_id: int) -> ResponseReturnValue:
    """The bank collected the batch: settle its invoices with direct-debit payments."""
    batch = db.get_or_404(DebitBatch, batch_id)
    if not EmptyForm().validate_on_submit():
        flash(_expired(), "error")
        return redirect(url_for("sepa.index")), 303
    try:
        made = svc.collect_batch(batch, current_user, farm_today())
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("sepa.index")), 303
    db.session.commit()
    if made:
        flash(_("Recorded as collected: %(count)s payments.", count=made), "success")
    else:
        flash(_("This batch was recorded as collected already; nothing changed."), "info")
    return redirect(url_for("sepa.index")), 303


@bp.route("/batches/<int:batch_id>/return", methods=["POST"])
@roles(*STAFF)
def return_(batch_id: int) -> ResponseReturnValue:
    """The bank refused the batch: its invoices may go into the next export."""
    batch = db.get_or_404(DebitBatch, batch_id)
    if not EmptyForm().validate_on_submit():
        flash(_expired(), "error")
        return redirect(url_for("sepa.index")), 303
    try:
        svc.return_batch(batch, farm_today())
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("sepa.index")), 303
    db.session.commit()
    flash(
        _(
            "The batch to collect on %(date)s is marked returned; its invoices go into the "
            "next export.",
            date=format_date(batch.collect_on, "long"),
        ),
        "success",
    )
    return redirect(url_for("sepa.index")), 303


@bp.route("/mine")
@roles(Role.MEMBER, Role.ADMIN)
def mine() -> ResponseReturnValue:
    """The household's own mandate in force, read-only (the account is masked)."""
    member_id = current_user.member_id
    mandate = svc.active_mandate(member_id) if member_id is not None else None
    items: list[DebitItem] = []
    if mandate is not None:
        items = list(
            db.session.scalars(
                select(DebitItem)
                .options(joinedload(DebitItem.batch), joinedload(DebitItem.invoice))
                .where(DebitItem.mandate_id == mandate.id)
                .order_by(DebitItem.id.desc())
                .limit(20)
            )
        )
    return render_template(
        "sepa/mine.html",
        mandate=mandate,
        items=items,
        kind_labels=KIND_LABELS,
        has_household=member_id is not None,
    )
