"""Forms of the share partners' pages. Ids arrive as plain strings and are read with
`parse_id` (no sign, nine digits at most); the operations say which choice is wrong."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import EmailField, RadioField, SelectField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from csa.models import PartnerPattern
from csa.ui.args import parse_id
from csa.ui.forms import InputForm

PATTERN_LABELS = {
    PartnerPattern.ALTERNATE: _l("Take turns: each coming round to the next household"),
    PartnerPattern.PLAN: _l("Follow our plan (rounds it leaves out take turns)"),
}


def _id(value: Any) -> int | None:
    return parse_id(value) if isinstance(value, str) else value if isinstance(value, int) else None


class IdField(SelectField):
    """A choice of a row by id; the view fills the choices, the operation checks the row."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, coerce=_id, validate_choice=False, **kwargs)


class AddPartnerForm(InputForm):
    """The coordinator links a household of the register to a membership."""

    membership = IdField(_l("Membership"), validators=[InputRequired()])
    member = IdField(_l("Partner household"), validators=[InputRequired()])
    submit = SubmitField(_l("Add the partner"))


class PatternForm(InputForm):
    pattern = RadioField(
        _l("How you divide the rounds"),
        choices=[SelectChoice(p.value, label) for p, label in PATTERN_LABELS.items()],
        validators=[InputRequired()],
    )
    submit = SubmitField(_l("Save"))


class PlanForm(InputForm):
    """One round of the plan: a household, or "" to let the round take its turn."""

    round = IdField(_l("Round"), validators=[InputRequired()])
    household = IdField(_l("Who collects"))
    submit = SubmitField(_l("Save the plan"))


class SwapForm(InputForm):
    """Offer a round one collects to a partner, for one of theirs or for nothing."""

    round = IdField(_l("My round"), validators=[InputRequired()])
    partner = IdField(_l("Partner"), validators=[InputRequired()])
    other_round = IdField(_l("In exchange for their round"))
    submit = SubmitField(_l("Offer the swap"))


class SwapAnswerForm(InputForm):
    accept = SubmitField(_l("Accept"))
    decline = SubmitField(_l("Decline"))
    withdraw = SubmitField(_l("Withdraw"))


class InviteForm(InputForm):
    """The membership's own household names a partner household by its e-mail address."""

    email = EmailField(
        _l("E-mail of the partner household"), validators=[InputRequired(), Length(max=254)]
    )
    submit = SubmitField(_l("Share with this household"))
