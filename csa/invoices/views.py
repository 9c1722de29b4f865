"""Invoices: the coordinators' list of a season's invoices, one invoice with its payments and
credit notes (and the form to issue one), the payment plans; the member's Money page.

An issued invoice is never edited: there is no such route. Corrections are credit notes.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from sqlalchemy import select

from csa.core.banking import format_iban
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.invoices import operations, queries
from csa.invoices.forms import CreditNoteForm, IssueForm, PlanForm
from csa.invoices.pdf import epc_qr, filename, invoice_pdf, qr_svg, seller_of
from csa.models import OCCUPYING, Invoice, Member, Membership, Role, Season
from csa.money.prices import season_prices
from csa.money.profile import farm_profile
from csa.rounds.lifecycle import farm_today
from csa.ui.access import STAFF, roles
from csa.ui.args import id_arg
from csa.ui.forms import flash_errors, options, refuse

bp = Blueprint("invoices", __name__)


def plan_label(plan: str) -> str:
    labels = {
        "single": _("One payment"),
        "monthly": _("Monthly instalments"),
        "quarterly": _("Quarterly instalments"),
    }
    return labels.get(plan, plan)


def _seasons() -> tuple[list[Season], Season | None]:
    """The seasons, newest first, and the one asked for (?season=) or the current one."""
    seasons = list(db.session.scalars(select(Season).order_by(Season.start.desc())))
    wanted = id_arg("season")
    today = farm_today()
    current = next((s for s in seasons if s.start <= today <= s.end), None)
    chosen = next((s for s in seasons if s.id == wanted), None)
    return seasons, chosen or current or (seasons[0] if seasons else None)


def _plan_form(membership: Membership) -> PlanForm | None:
    """The plan choice, while it may change (no invoice yet) and there is a choice."""
    plans = farm_profile().plans
    if operations.has_invoice(membership) or (len(plans) < 2 and membership.payment_plan in plans):
        return None
    form = PlanForm(prefix=f"m{membership.id}")
    form.plan.choices = options((p.value, plan_label(p.value)) for p in plans)
    if not form.is_submitted():
        form.plan.data = membership.payment_plan.value
    return form


def _household() -> Member | None:
    return current_user.member if current_user.is_authenticated else None


# --- coordinators ---------------------------------------------------------------------------


@bp.route("/")
@roles(*STAFF)
def index() -> ResponseReturnValue:
    """A season's invoices: number, household, due, total, paid, open and status."""
    seasons, season = _seasons()
    status = request.args.get("status") or None
    if status not in queries.STATUSES:
        status = None
    today = farm_today()
    rows = queries.season_invoices(season.id, today, status) if season else []
    return render_template(
        "invoices/index.html",
        section="invoices",
        seasons=seasons,
        season=season,
        rows=rows,
        status=status,
        statuses=queries.STATUSES,
        issue_form=IssueForm(),
        profile=farm_profile(),
    )


@bp.route("/issue", methods=["POST"])
@roles(*STAFF)
def issue() -> ResponseReturnValue:
    """Issue the invoices due soon now, as the scheduler would (one commit each)."""
    form = IssueForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return redirect(url_for("invoices.index"))
    report = operations.issue_due_invoices(farm_today())
    if report.not_ready:
        flash(_("Set the farm's legal name and IBAN in the settings first."), "error")
        return redirect(url_for("money.settings"))
    count = len(report.issued)
    flash(ngettext("%(num)s invoice issued.", "%(num)s invoices issued.", count), "success")
    if report.failed:
        flash(_("Some invoices could not be issued; the scheduler tries again."), "error")
    return redirect(url_for("invoices.index"))


def _invoice_page(invoice: Invoice, form: CreditNoteForm, status: int = 200) -> ResponseReturnValue:
    (row,) = queries.rows_for([invoice], farm_today())
    return (
        render_template(
            "invoices/invoice.html",
            section="invoices",
            invoice=invoice,
            row=row,
            allocations=queries.allocations(invoice),
            notes=queries.credit_notes(invoice),
            left_to_credit=operations.open_to_credit(invoice),
            form=form,
        ),
        status,
    )


def _invoice_or_404(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        abort(404)
    return invoice


@bp.route("/<int:invoice_id>")
@roles(*STAFF)
def invoice(invoice_id: int) -> ResponseReturnValue:
    """One invoice or credit note: lines, payments allocated, credit notes."""
    return _invoice_page(_invoice_or_404(invoice_id), CreditNoteForm())


@bp.route("/<int:invoice_id>/credit", methods=["POST"])
@roles(*STAFF)
def credit(invoice_id: int) -> ResponseReturnValue:
    """Correct an invoice by a credit note for part or all of what is not credited yet."""
    invoice = _invoice_or_404(invoice_id)
    form = CreditNoteForm()
    if form.validate_on_submit():
        try:
            note = operations.issue_credit_note(
                invoice, int(form.amount.data or 0), form.reason.data or "", farm_today()
            )
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("Credit note %(number)s issued.", number=note.number), "success")
            return redirect(url_for("invoices.invoice", invoice_id=invoice.id))
    return _invoice_page(invoice, form, 400)


def _pdf_response(invoice: Invoice) -> ResponseReturnValue:
    return (
        invoice_pdf(invoice),
        200,
        {
            "Content-Type": "application/pdf",
            "Content-Disposition": f'inline; filename="{filename(invoice)}"',
        },
    )


@bp.route("/<int:invoice_id>.pdf")
@roles(*STAFF)
def pdf(invoice_id: int) -> ResponseReturnValue:
    """The invoice or credit note as issued, as a PDF."""
    return _pdf_response(_invoice_or_404(invoice_id))


def _plans_page(season_id: int | None = None, status: int = 200) -> ResponseReturnValue:
    seasons, season = _seasons()
    if season_id is not None:
        season = next((x for x in seasons if x.id == season_id), season)
    memberships = (
        list(
            db.session.scalars(
                select(Membership)
                .where(Membership.season_id == season.id, Membership.status.in_(OCCUPYING))
                .order_by(Membership.id)
            )
        )
        if season
        else []
    )
    prices = season_prices(season) if season else {}
    return (
        render_template(
            "invoices/plans.html",
            section="invoices",
            seasons=seasons,
            season=season,
            rows=[(m, prices.get(m.id, 0), _plan_form(m)) for m in memberships],
            plan_label=plan_label,
        ),
        status,
    )


@bp.route("/plans")
@roles(*STAFF)
def plans() -> ResponseReturnValue:
    """Each membership's payment plan, and the choice while no invoice is issued."""
    return _plans_page()


def _set_plan(membership: Membership) -> bool:
    """Save a plan form; False (and the reason flashed, nothing written) if refused."""
    form = _plan_form(membership)
    if form is None:
        flash(_("The way to pay is fixed once the first invoice is issued."), "error")
        return False
    if not form.validate_on_submit():
        flash_errors(form)
        return False
    try:
        changed = operations.choose_plan(membership, form.plan.data or "", current_user)
    except ValidationFailed as exc:
        refuse(None, exc)
        return False
    db.session.commit()
    if changed:
        flash(_("The way to pay is saved."), "success")
    return True


@bp.route("/plans/<int:membership_id>", methods=["POST"])
@roles(*STAFF)
def set_plan(membership_id: int) -> ResponseReturnValue:
    """A coordinator sets a membership's plan (until its first invoice)."""
    membership = db.session.get(Membership, membership_id)
    if membership is None:
        abort(404)
    if _set_plan(membership):
        return redirect(url_for("invoices.plans", season=membership.season_id))
    return _plans_page(membership.season_id, 400)


# --- the member's Money page ------------------------------------------------------------------


@bp.route("/mine")
@roles(Role.MEMBER, Role.ADMIN)
def mine() -> ResponseReturnValue:
    """The household's money: season price, plan, every invoice with paid, open and due."""
    return _mine_page()


def _mine_page(status: int = 200) -> ResponseReturnValue:
    member = _household()
    today = farm_today()
    memberships: list[Membership] = []
    rows: list[queries.InvoiceRow] = []
    if member is not None:
        memberships = [
            m
            for m in db.session.scalars(
                select(Membership)
                .join(Season)
                .where(
                    Membership.member_id == member.id,
                    Membership.status.in_(OCCUPYING),
                    Season.end >= today,
                )
                .order_by(Membership.start)
            )
        ]
        rows = queries.household_invoices(member.id, today)
    shares = []
    for m in memberships:
        price = m.price_cents if m.price_cents is not None else season_prices(m.season).get(m.id, 0)
        shares.append((m, price, _plan_form(m)))
    # The farm as each open invoice names it, and its code for what is still open (a
    # partly paid invoice: the rest).
    sellers = {r.invoice.id: seller_of(r.invoice) for r in rows if r.open}
    codes = {
        r.invoice.id: qr_svg(epc_qr(sellers[r.invoice.id], r.invoice, r.open))
        for r in rows
        if r.open
    }
    return (
        render_template(
            "invoices/mine.html",
            shares=shares,
            rows=rows,
            codes=codes,
            sellers=sellers,
            format_iban=format_iban,
            plan_label=plan_label,
        ),
        status,
    )


def _own_membership(membership_id: int) -> Membership:
    member = _household()
    membership = db.session.get(Membership, membership_id)
    if member is None or membership is None or membership.member_id != member.id:
        abort(404)
    return membership


@bp.route("/mine/<int:membership_id>/plan", methods=["POST"])
@roles(Role.MEMBER, Role.ADMIN)
def my_plan(membership_id: int) -> ResponseReturnValue:
    """The household chooses how to pay, among the farm's plans, until its first invoice."""
    if _set_plan(_own_membership(membership_id)):
        return redirect(url_for("invoices.mine"))
    return _mine_page(400)


@bp.route("/mine/<int:invoice_id>.pdf")
@roles(Role.MEMBER, Role.ADMIN)
def my_pdf(invoice_id: int) -> ResponseReturnValue:
    """One of the household's own invoices as a PDF; another household's is not there."""
    member = _household()
    invoice = db.session.get(Invoice, invoice_id)
    if member is None or invoice is None or invoice.member_id != member.id:
        abort(404)
    return _pdf_response(invoice)
