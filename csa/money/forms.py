"""The farm's billing profile form: the names and numbers printed on invoices and bank
files, and the money settings of the bidding round, invoices and reminders."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange

from csa.ui.forms import InputForm, WholeNumberField, options

# ISO 4217 codes a farm can choose; amounts are printed the reader's way in each.
CURRENCIES = ("EUR", "PLN", "CHF", "CZK", "HUF", "SEK", "DKK", "NOK", "GBP", "RON", "BGN", "USD")


class FarmProfileForm(InputForm):
    legal_name = StringField(_l("Legal name"), validators=[InputRequired(), Length(max=200)])
    address = TextAreaField(_l("Address"), validators=[Length(max=300)])
    tax_id = StringField(_l("Tax number"), validators=[Length(max=40)])
    iban = StringField(_l("IBAN"), validators=[Length(max=50)])
    bic = StringField(_l("BIC"), validators=[Length(max=15)])
    creditor_id = StringField(_l("SEPA creditor identifier"), validators=[Length(max=40)])
    currency = SelectField(_l("Currency"), choices=options((c, c) for c in CURRENCIES))
    pledge_floor_percent = WholeNumberField(
        _l("Pledges below this share of the reference price ask for a reason (%)"),
        validators=[InputRequired(), NumberRange(0, 100)],
    )
    latecomer_pro_rata = BooleanField(
        _l("Members joining after the bidding round pay for the rounds left only")
    )
    plan_single = BooleanField(_l("One payment"))
    plan_monthly = BooleanField(_l("Monthly instalments"))
    plan_quarterly = BooleanField(_l("Quarterly instalments"))
    invoice_days_before_due = WholeNumberField(
        _l("Invoices go out this many days before they are due"),
        validators=[InputRequired(), NumberRange(0, 90)],
    )
    reminder_first_days = WholeNumberField(
        _l("Friendly reminder, days after the due date"),
        validators=[InputRequired(), NumberRange(1, 365)],
    )
    reminder_second_days = WholeNumberField(
        _l("Second reminder, days after the due date"),
        validators=[InputRequired(), NumberRange(2, 730)],
    )
    submit = SubmitField(_l("Save"))
