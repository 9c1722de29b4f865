"""The hardship arrangement form of the who-owes-what page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from csa.models import NOTE_MAX
from csa.ui.forms import DayField, InputForm


class HardshipForm(InputForm):
    note = TextAreaField(_l("Note (seen by staff only)"), validators=[Length(max=NOTE_MAX)])
    until = DayField(_l("Until (empty: until ended)"), validators=[Optional()], format="%Y-%m-%d")
    submit = SubmitField(_l("Stop reminders"))
