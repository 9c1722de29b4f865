"""Forms of the pickup calendar: each change is a small POST form with its own CSRF token.

Adding and reopening a round use the rounds feature's forms (csa/rounds/forms.py), offered
to this page's template as globals, so both pages post the same form to one endpoint.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField, SubmitField
from wtforms.validators import DataRequired, InputRequired, Length

from csa.models import NOTE_MAX
from csa.ui.forms import DayField, InputForm


class CancelForm(InputForm):
    """Cancel a round; members see the reason, so it is required."""

    reason = StringField(
        _l("Reason (members will see it)"),
        validators=[
            DataRequired(_l("Give a reason: members will see it.")),
            Length(max=NOTE_MAX),
        ],
    )
    confirm = BooleanField(
        _l("Yes, cancel this round"),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )
    submit = SubmitField(_l("Cancel round"))


class MoveForm(InputForm):
    """Move a round to another date; it keeps feeding the sites it was planned for."""

    new_date = DayField(
        _l("New date"), validators=[InputRequired(_l("Choose a date."))], format="%Y-%m-%d"
    )
    submit = SubmitField(_l("Move round"))
