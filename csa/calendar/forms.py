"""Forms of the pickup calendar: each change is a small POST form with its own CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

REASON_MAX = 300  # Round.cancel_reason and HarvestAudit.note hold 300 characters


class CancelForm(FlaskForm):
    """Cancel a round; members see the reason, so it is required."""

    reason = StringField(
        _l("Reason (members will see it)"),
        validators=[
            DataRequired(_l("Give a reason: members will see it.")),
            Length(max=REASON_MAX),
        ],
    )
    confirm = BooleanField(
        _l("Yes, cancel this round"),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )
    submit = SubmitField(_l("Cancel round"))


class MoveForm(FlaskForm):
    """Move a round to another date; it keeps feeding the sites it was planned for."""

    new_date = DateField(
        _l("New date"), validators=[InputRequired(_l("Choose a date."))], format="%Y-%m-%d"
    )
    submit = SubmitField(_l("Move round"))


class AddRoundForm(FlaskForm):
    """Add an extra round on a date some site serves."""

    on_date = DateField(
        _l("Date"), validators=[InputRequired(_l("Choose a date."))], format="%Y-%m-%d"
    )
    submit = SubmitField(_l("Add round"))


class ReopenForm(FlaskForm):
    """Reopen a locked round; the reason goes to the round's audit trail."""

    reason = StringField(
        _l("Reason (kept in the audit trail)"),
        validators=[DataRequired(_l("Give a reason for reopening.")), Length(max=REASON_MAX)],
    )
    confirm = BooleanField(
        _l("Yes, drop the stored split and reopen"),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )
    submit = SubmitField(_l("Reopen round"))
