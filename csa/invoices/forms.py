"""The credit note form, the payment plan choice and the "issue now" button."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length

from csa.ui.forms import InputForm, MoneyField


class CreditNoteForm(InputForm):
    amount = MoneyField(_l("Amount to credit"), positive=True, validators=[InputRequired()])
    reason = StringField(_l("Reason"), validators=[InputRequired(), Length(max=200)])
    submit = SubmitField(_l("Issue credit note"))


class PlanForm(InputForm):
    plan = SelectField(_l("Way to pay"), validators=[InputRequired()])
    submit = SubmitField(_l("Save"))


class IssueForm(InputForm):
    submit = SubmitField(_l("Issue due invoices now"))
