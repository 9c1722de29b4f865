"""The payments desk: payments typed by hand, bank statements imported and matched, the
unmatched for a coordinator, and the accounting export. Staff only."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from csa.core.bounds import day_in_range
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Member, Payment, PaymentAllocation, PaymentIgnore, PaymentMethod
from csa.money.profile import farm_currency
from csa.payments import operations
from csa.payments.export import export_csv, payment_number
from csa.payments.forms import (
    METHOD_LABELS,
    ImportForm,
    MappingForm,
    MatchForm,
    PaymentFilter,
    PaymentForm,
)
from csa.payments.statements import MAX_BYTES
from csa.rounds.lifecycle import farm_today
from csa.ui.access import STAFF, roles
from csa.ui.args import page_arg
from csa.ui.formatting import format_price
from csa.ui.forms import EmptyForm, flash_errors, options, refuse

bp = Blueprint("payments", __name__)


def _households() -> list[tuple[int, str]]:
    return [(m.id, m.name) for m in operations.members_by_name()]


def _allocated(payment_ids: list[int]) -> dict[int, int]:
    found = dict.fromkeys(payment_ids, 0)
    if payment_ids:
        rows = db.session.execute(
            select(PaymentAllocation.payment_id, func.sum(PaymentAllocation.amount_cents))
            .where(PaymentAllocation.payment_id.in_(payment_ids))
            .group_by(PaymentAllocation.payment_id)
        )
        found.update({pid: int(total or 0) for pid, total in rows})
    return found


@bp.route("/")
@roles(*STAFF)
def index() -> ResponseReturnValue:
    """Payments newest first, with what each settled and the credit it still holds."""
    flt = PaymentFilter(request.args)
    flt.validate()
    query = select(Payment).options(selectinload(Payment.member))
    text = (flt.q.data or "").strip() if not flt.q.errors else ""
    if text:
        like = f"%{text}%"
        query = query.outerjoin(Member, Member.id == Payment.member_id).where(
            or_(
                Payment.payer_name.ilike(like),
                Payment.reference.ilike(like),
                Payment.note.ilike(like),
                Member.name.ilike(like),
            )
        )
    source = flt.source.data or ""
    allocated_sum = (
        select(func.coalesce(func.sum(PaymentAllocation.amount_cents), 0))
        .where(PaymentAllocation.payment_id == Payment.id)
        .scalar_subquery()
    )
    if source == "hand":
        query = query.where(Payment.import_key.is_(None))
    elif source == "statement":
        query = query.where(Payment.import_key.is_not(None))
    elif source == "unmatched":
        query = query.where(
            Payment.member_id.is_(None), Payment.id.not_in(select(PaymentIgnore.payment_id))
        )
    elif source == "credit":
        query = query.where(Payment.member_id.is_not(None), allocated_sum < Payment.amount_cents)
    page = db.paginate(
        query.order_by(Payment.booked_on.desc(), Payment.id.desc()),
        page=page_arg(),
        per_page=50,
        error_out=False,
    )
    items = list(page.items)
    allocated = _allocated([p.id for p in items])
    ignored = set(
        db.session.scalars(
            select(PaymentIgnore.payment_id).where(
                PaymentIgnore.payment_id.in_([p.id for p in items])
            )
        )
    )
    today = farm_today()
    return render_template(
        "payments/index.html",
        section="payments",
        flt=flt,
        page=page,
        payments=items,
        allocated=allocated,
        ignored=ignored,
        numbers={p.id: payment_number(p) for p in items},
        methods=METHOD_LABELS,
        currency=farm_currency(),
        args={"q": text, "source": source},
        export_from=date(today.year, 1, 1).isoformat(),
        export_to=today.isoformat(),
    )


@bp.route("/new", methods=["GET", "POST"])
@roles(*STAFF)
def new() -> ResponseReturnValue:
    """Record a payment by hand; it settles the household's oldest open invoices first."""
    form = PaymentForm()
    form.member.choices = options(_households())
    if not form.is_submitted():
        form.booked_on.data = farm_today()
    if form.validate_on_submit():
        try:
            payment = operations.record_payment(
                booked_on=form.booked_on.data,
                amount_cents=form.amount.data or 0,
                method=PaymentMethod(form.method.data),
                member_id=form.member.data,
                note=form.note.data or "",
                by=current_user,
            )
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            credit = payment.amount_cents - sum(a.amount_cents for a in payment.allocations)
            db.session.commit()
            flash(_("The payment is recorded."), "success")
            if credit:
                flash(
                    _(
                        "%(amount)s of it is left as credit on the payment.",
                        amount=format_price(credit),
                    ),
                    "info",
                )
            return redirect(url_for("payments.index"))
    elif form.is_submitted():
        flash_errors(form)
    status = 400 if form.is_submitted() else 200
    return render_template("payments/new.html", form=form, section="payments"), status


@bp.route("/import", methods=["GET", "POST"])
@roles(*STAFF)
def import_statement() -> ResponseReturnValue:
    """Upload a bank statement: new credits become payments, matched where they can be."""
    form = ImportForm()
    problems: list[str] = []
    summary = None
    if form.validate_on_submit():
        data = form.file.data.read(MAX_BYTES + 1)
        form.file.data.close()
        kind = None if form.format.data == "auto" else form.format.data
        try:
            if len(data) > MAX_BYTES:
                message = _("The file is larger than 5 MB; nothing was imported.")
                raise ValidationFailed(message, [message])
            summary = operations.import_file(data, kind, by=current_user)
            db.session.commit()
        except ValidationFailed as exc:
            db.session.rollback()
            problems = exc.problems or [str(exc)]
        except IntegrityError:
            # Another import of the same lines committed first: run it again, it skips them.
            db.session.rollback()
            problems = [
                _("Another import ran at the same time; nothing was written. Import again.")
            ]
        else:
            flash(summary.message(), "success")
    elif form.is_submitted():
        flash_errors(form)
    status = 400 if problems or (form.is_submitted() and summary is None) else 200
    return render_template(
        "payments/import.html",
        form=form,
        problems=problems,
        summary=summary,
        currency=farm_currency(),
        has_mapping=operations.csv_mapping() is not None,
        section="payments",
    ), status


@bp.route("/mapping", methods=["GET", "POST"])
@roles(*STAFF)
def mapping() -> ResponseReturnValue:
    """Which column of the bank's CSV export holds what: saved once, used by every import."""
    form = MappingForm()
    saved = operations.csv_mapping()
    if not form.is_submitted():
        if saved is not None:
            form.process(obj=saved)
        else:
            form.process(
                data={
                    "date_column": 1,
                    "amount_column": 2,
                    "currency_column": 0,
                    "payer_column": 3,
                    "reference_column": 4,
                    "decimal_comma": True,
                    "header_rows": 1,
                }
            )
    if form.validate_on_submit():
        try:
            operations.save_mapping(
                date_column=form.date_column.data,
                amount_column=form.amount_column.data,
                currency_column=form.currency_column.data,
                payer_column=form.payer_column.data,
                reference_column=form.reference_column.data,
                date_format=form.date_format.data,
                decimal_comma=bool(form.decimal_comma.data),
                delimiter=form.delimiter.data,
                header_rows=form.header_rows.data,
            )
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("The CSV mapping is saved."), "success")
            return redirect(url_for("payments.import_statement"))
    elif form.is_submitted():
        flash_errors(form)
    status = 400 if form.is_submitted() else 200
    return render_template("payments/mapping.html", form=form, section="payments"), status


@bp.route("/unmatched")
@roles(*STAFF)
def unmatched() -> ResponseReturnValue:
    """Imported payments nobody could match: match each to a household or mark it not ours."""
    payments = list(db.session.scalars(operations.unmatched_select().limit(500)))
    households = _households()
    forms = {}
    for payment in payments:
        form = MatchForm(prefix=f"p{payment.id}")
        form.member.choices = options(households)
        forms[payment.id] = form
    return render_template(
        "payments/unmatched.html",
        payments=payments,
        forms=forms,
        ignore_form=EmptyForm(),
        currency=farm_currency(),
        section="payments",
    )


@bp.route("/<int:payment_id>/match", methods=["POST"])
@roles(*STAFF)
def match(payment_id: int) -> ResponseReturnValue:
    payment = db.get_or_404(Payment, payment_id)
    form = MatchForm(prefix=f"p{payment.id}")
    form.member.choices = options(_households())
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(url_for("payments.unmatched")), 303
    try:
        operations.match_by_hand(payment, form.member.data)
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("payments.unmatched")), 303
    db.session.commit()
    flash(_("The payment is matched."), "success")
    return redirect(url_for("payments.unmatched"))


@bp.route("/<int:payment_id>/ignore", methods=["POST"])
@roles(*STAFF)
def ignore(payment_id: int) -> ResponseReturnValue:
    payment = db.get_or_404(Payment, payment_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(url_for("payments.unmatched")), 303
    try:
        operations.ignore_payment(payment, by=current_user)
    except ValidationFailed as exc:
        refuse(None, exc)
        return redirect(url_for("payments.unmatched")), 303
    db.session.commit()
    flash(_("The payment is marked as not ours; it stays on record."), "success")
    return redirect(url_for("payments.unmatched"))


def _day(name: str) -> date | None:
    try:
        day = date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None
    return day if day_in_range(day) else None


@bp.route("/export")
@roles(*STAFF)
def export() -> ResponseReturnValue:
    """CSV of the invoices, credit notes and payments of a period (?from=…&to=…)."""
    first, last = _day("from"), _day("to")
    if first is None or last is None or first > last:
        flash(_("Choose the period as two dates, the first not after the second."), "error")
        return redirect(url_for("payments.index")), 303
    text = export_csv(first, last)
    name = f"accounts-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        "\ufeff" + text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
