"""Forms of the Next season page and the coordinators' overview."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, NumberRange

from csa.models import NOTE_MAX, RenewalState
from csa.ui.forms import InputForm, InputSubForm, WholeNumberField

STATE_LABELS = {
    RenewalState.INVITED: _l("invited, no answer yet"),
    RenewalState.ACCEPTED: _l("accepted"),
    RenewalState.CHANGED: _l("accepted with changes"),
    RenewalState.DECLINED: _l("declined"),
    RenewalState.EXPIRED: _l("expired"),
}


class AcceptForm(InputForm):
    """Keep the preselected terms for the next season."""

    submit = SubmitField(_l("Yes, renew as it is"))


class ChangeForm(InputForm):
    """Renew with other terms."""

    share_type = SelectField(_l("Share type"), coerce=int, validators=[InputRequired()])
    shares = WholeNumberField(
        _l("Number of shares"), default=1, validators=[InputRequired(), NumberRange(1, 999)]
    )
    site = SelectField(_l("Pickup site"), coerce=int, validators=[InputRequired()])
    submit = SubmitField(_l("Renew with these choices"))


class DeclineForm(InputForm):
    """Say no for the next season, with a reason if the member wants to give one."""

    reason = StringField(_l("Reason (optional)"), validators=[Length(max=NOTE_MAX)])
    submit = SubmitField(_l("No, I will not renew"))


class OverviewFilterForm(InputSubForm):
    """The overview's filter, read from the query string (GET, no CSRF)."""

    state = SelectField(_l("State"), validate_choice=False)
