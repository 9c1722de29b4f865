"""Forms of the rounds pages: add a round, lock it, reopen it."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length


class AddRoundForm(FlaskForm):
    date = DateField(_l("Date"), validators=[InputRequired()])
    submit = SubmitField(_l("Add round"))


class LockForm(FlaskForm):
    """Locking stores the split for good: a ticked box makes it a deliberate act."""

    confirm = BooleanField(
        _l("The harvest is complete: store the split and lock the round."),
        validators=[DataRequired(message=_l("Tick the box to lock the round."))],
    )
    submit = SubmitField(_l("Lock round"))


class ReopenForm(FlaskForm):
    """Reopening drops the stored split; the reason goes to the audit log."""

    reason = StringField(_l("Why reopen it?"), validators=[DataRequired(), Length(max=300)])
    submit = SubmitField(_l("Reopen round"))
