"""Forms of a round's life: add one, lock it, reopen it.

The calendar and the rounds pages post the same forms to the same endpoints
(csa/rounds/views.py); templates/rounds/_forms.html renders them on both pages.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

from csa.models import NOTE_MAX
from csa.ui.forms import DayField, InputForm


class AddRoundForm(InputForm):
    """Add an extra round on a date some site serves; past dates are refused."""

    date = DayField(_l("Date"), validators=[InputRequired(_l("Choose a date."))], format="%Y-%m-%d")
    submit = SubmitField(_l("Add round"))


class LockForm(InputForm):
    """Locking stores the split for good: a ticked box makes it a deliberate act."""

    confirm = BooleanField(
        _l("The harvest is complete: store the split and lock the round."),
        validators=[DataRequired(message=_l("Tick the box to lock the round."))],
    )
    submit = SubmitField(_l("Lock round"))


class ReopenForm(InputForm):
    """Reopen a locked round: it drops the stored split, so a reason and a ticked box."""

    reason = StringField(
        _l("Reason (kept in the audit trail)"),
        validators=[DataRequired(_l("Give a reason for reopening.")), Length(max=NOTE_MAX)],
    )
    confirm = BooleanField(
        _l("Yes, drop the stored split and reopen"),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )
    submit = SubmitField(_l("Reopen round"))
