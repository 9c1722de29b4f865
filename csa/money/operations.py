"""Saving the farm's billing profile: every identifier checked before anything is written."""

from __future__ import annotations

from flask_babel import gettext as _

from csa.core.banking import BankingError, clean_bic, clean_creditor_id, clean_iban
from csa.errors import FieldError
from csa.models import FarmProfile, PaymentPlan


def update_profile(
    profile: FarmProfile,
    *,
    legal_name: str,
    address: str,
    tax_id: str,
    iban: str,
    bic: str,
    creditor_id: str,
    currency: str,
    pledge_floor_permille: int,
    latecomer_pro_rata: bool,
    plans: list[PaymentPlan],
    invoice_days_before_due: int,
    reminder_first_days: int,
    reminder_second_days: int,
) -> None:
    """Check and store the profile; FieldError names the field that is wrong."""
    try:
        iban = clean_iban(iban) if iban.strip() else ""
    except BankingError:
        raise FieldError("iban", _("This IBAN is not valid: check its digits.")) from None
    try:
        bic = clean_bic(bic) if bic.strip() else ""
    except BankingError:
        raise FieldError("bic", _("This BIC is not valid: 8 or 11 letters and digits.")) from None
    try:
        creditor_id = clean_creditor_id(creditor_id) if creditor_id.strip() else ""
    except BankingError:
        raise FieldError(
            "creditor_id", _("This creditor identifier is not valid: check its digits.")
        ) from None
    if not plans:
        raise FieldError("plan_single", _("Allow at least one way to pay."))
    if reminder_second_days <= reminder_first_days:
        raise FieldError(
            "reminder_second_days", _("The second reminder comes after the friendly one.")
        )
    profile.legal_name = legal_name.strip()
    profile.address = address.strip()
    profile.tax_id = tax_id.strip()
    profile.iban = iban
    profile.bic = bic
    profile.creditor_id = creditor_id
    profile.currency = currency
    profile.pledge_floor_permille = pledge_floor_permille
    profile.latecomer_pro_rata = latecomer_pro_rata
    profile.plans_allowed = ",".join(p.value for p in PaymentPlan if p in plans)
    profile.invoice_days_before_due = invoice_days_before_due
    profile.reminder_first_days = reminder_first_days
    profile.reminder_second_days = reminder_second_days
