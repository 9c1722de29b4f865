"""Forms of the waiting list: the household's answer to an offer."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SubmitField

from csa.ui.forms import InputForm


class AnswerForm(InputForm):
    """Accept or decline an offered place: two buttons, one form."""

    accept = SubmitField(_l("Accept the place"))
    decline = SubmitField(_l("Decline"))
