"""The mandate form and the export form of the direct-debit desk."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, Optional

from csa.models import MandateKind
from csa.ui.forms import DayField, InputForm, options

KIND_LABELS = {
    MandateKind.RECURRING: _l("Recurring (every instalment)"),
    MandateKind.ONE_OFF: _l("One-off (a single collection)"),
}


class MandateForm(InputForm):
    member = SelectField(_l("Household"), coerce=int, validators=[InputRequired()])
    holder_name = StringField(_l("Account holder"), validators=[InputRequired(), Length(max=70)])
    iban = StringField(_l("IBAN"), validators=[InputRequired(), Length(max=50)])
    bic = StringField(_l("BIC"), validators=[Length(max=15)])
    reference = StringField(_l("Mandate reference"), validators=[Length(max=35)])
    signed_on = DayField(
        _l("Signed on"), validators=[InputRequired(_l("Choose a date."))], format="%Y-%m-%d"
    )
    kind = SelectField(
        _l("Type"),
        choices=options((k.value, label) for k, label in KIND_LABELS.items()),
        default=MandateKind.RECURRING.value,
    )
    submit = SubmitField(_l("Record the mandate"))


class ExportForm(InputForm):
    collect_on = DayField(
        _l("Collection date"), validators=[InputRequired(_l("Choose a date."))], format="%Y-%m-%d"
    )
    due_from = DayField(_l("Invoices due from"), validators=[Optional()], format="%Y-%m-%d")
    due_until = DayField(
        _l("Invoices due up to"),
        validators=[InputRequired(_l("Choose a date."))],
        format="%Y-%m-%d",
    )
    submit = SubmitField(_l("Export the direct-debit file"))
