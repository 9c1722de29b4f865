"""The treasurer's desk: an overview of a season's money and the farm's billing settings.

The other parts of the money side (csa/bidding, csa/invoices, csa/payments, csa/reminders,
csa/sepa) are sections of the same desk (templates/money/_sections.html).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlalchemy import func, select

from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Invoice, InvoiceKind, PaymentAllocation, PaymentPlan, Season
from csa.money import operations
from csa.money.forms import FarmProfileForm
from csa.money.prices import season_prices
from csa.money.profile import farm_profile
from csa.rounds.lifecycle import farm_today
from csa.ui.access import STAFF, roles
from csa.ui.args import id_arg
from csa.ui.forms import refuse

bp = Blueprint("money", __name__)


def chosen_season() -> tuple[list[Season], Season | None]:
    """The seasons, newest first, and the one asked for (?season=) or the current one."""
    seasons = list(db.session.scalars(select(Season).order_by(Season.start.desc())))
    wanted = id_arg("season")
    today = farm_today()
    current = next((s for s in seasons if s.start <= today <= s.end), None)
    chosen = next((s for s in seasons if s.id == wanted), None)
    return seasons, chosen or current or (seasons[0] if seasons else None)


def _season_figures(season: Season) -> dict[str, int]:
    prices = season_prices(season)
    invoiced = db.session.execute(
        select(Invoice.kind, func.coalesce(func.sum(Invoice.total_cents), 0))
        .join(Invoice.membership)
        .where(Invoice.membership.has(season_id=season.id))
        .group_by(Invoice.kind)
    ).all()
    by_kind = {kind: int(total) for kind, total in invoiced}
    paid = db.session.scalar(
        select(func.coalesce(func.sum(PaymentAllocation.amount_cents), 0))
        .join(PaymentAllocation.invoice)
        .where(Invoice.membership.has(season_id=season.id))
    )
    net = by_kind.get(InvoiceKind.INVOICE, 0) - by_kind.get(InvoiceKind.CREDIT_NOTE, 0)
    return {
        "budget": season.budget_cents or 0,
        "prices": sum(prices.values()),
        "memberships": len(prices),
        "invoiced": net,
        "paid": int(paid or 0),
        "open": max(0, net - int(paid or 0)),
    }


@bp.route("/")
@roles(*STAFF)
def index() -> ResponseReturnValue:
    """A season at a glance: budget, season prices, invoiced, paid and open."""
    seasons, season = chosen_season()
    return render_template(
        "money/index.html",
        section="overview",
        seasons=seasons,
        season=season,
        figures=_season_figures(season) if season else None,
        currency=farm_profile().currency,
    )


@bp.route("/settings", methods=["GET", "POST"])
@roles(*STAFF)
def settings() -> ResponseReturnValue:
    """The farm's legal name, address, tax number, bank account and money settings."""
    profile = farm_profile()
    form = FarmProfileForm()
    if not form.is_submitted():
        form.process(
            data={
                "legal_name": profile.legal_name,
                "address": profile.address,
                "tax_id": profile.tax_id,
                "iban": profile.iban,
                "bic": profile.bic,
                "creditor_id": profile.creditor_id,
                "currency": profile.currency,
                "pledge_floor_percent": profile.pledge_floor_permille // 10,
                "latecomer_pro_rata": profile.latecomer_pro_rata,
                "plan_single": PaymentPlan.SINGLE in profile.plans,
                "plan_monthly": PaymentPlan.MONTHLY in profile.plans,
                "plan_quarterly": PaymentPlan.QUARTERLY in profile.plans,
                "invoice_days_before_due": profile.invoice_days_before_due,
                "reminder_first_days": profile.reminder_first_days,
                "reminder_second_days": profile.reminder_second_days,
            }
        )
    if form.validate_on_submit():
        plans = [
            plan
            for plan, on in (
                (PaymentPlan.SINGLE, form.plan_single.data),
                (PaymentPlan.MONTHLY, form.plan_monthly.data),
                (PaymentPlan.QUARTERLY, form.plan_quarterly.data),
            )
            if on
        ]
        try:
            operations.update_profile(
                profile,
                legal_name=form.legal_name.data or "",
                address=form.address.data or "",
                tax_id=form.tax_id.data or "",
                iban=form.iban.data or "",
                bic=form.bic.data or "",
                creditor_id=form.creditor_id.data or "",
                currency=form.currency.data or "EUR",
                pledge_floor_permille=int(form.pledge_floor_percent.data or 0) * 10,
                latecomer_pro_rata=bool(form.latecomer_pro_rata.data),
                plans=plans,
                invoice_days_before_due=int(form.invoice_days_before_due.data or 0),
                reminder_first_days=int(form.reminder_first_days.data or 0),
                reminder_second_days=int(form.reminder_second_days.data or 0),
            )
        except ValidationFailed as exc:
            refuse(form, exc)
        else:
            db.session.commit()
            flash(_("The farm's billing settings are saved."), "success")
            return redirect(url_for("money.settings"))
    status = 400 if form.is_submitted() else 200
    return render_template("money/settings.html", form=form, section="settings"), status
