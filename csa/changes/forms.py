"""Forms of changes: new terms from a coming round, and a coordinator's decline."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, NumberRange

from csa.changes.operations import MAX_SHARES
from csa.models import NOTE_MAX
from csa.ui.forms import InputForm, WholeNumberField


class ChangeForm(InputForm):
    """The terms from a chosen round on: each field preset to the terms in force."""

    effective = SelectField(_l("From the round of"), validators=[InputRequired()])
    share_type = SelectField(_l("Share type"), coerce=int, validators=[InputRequired()])
    shares = WholeNumberField(
        _l("Number of shares"), default=1, validators=[InputRequired(), NumberRange(1, MAX_SHARES)]
    )
    site = SelectField(_l("Pickup site"), coerce=int, validators=[InputRequired()])
    submit = SubmitField(_l("Ask for this change"))


class DeclineForm(InputForm):
    reason = StringField(_l("Reason"), validators=[InputRequired(), Length(max=NOTE_MAX)])
    submit = SubmitField(_l("Decline"))
