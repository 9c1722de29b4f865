"""Forms of the "my share" page: a hold on a round or a range, and the crops never wanted."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectMultipleField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired
from wtforms.widgets import CheckboxInput, ListWidget

from csa.models import HoldMode
from csa.ui.forms import DayField, InputForm
from csa.ui.labels import HOLD_LABELS


class HoldForm(InputForm):
    mode = RadioField(
        _l("While I am away"),
        choices=[SelectChoice(m.value, label) for m, label in HOLD_LABELS.items()],
        default=HoldMode.DONATE.value,
        validators=[InputRequired()],
    )
    submit = SubmitField(_l("Put on hold"))


def _mode_field() -> RadioField:
    return RadioField(
        _l("While I am away"),
        choices=[SelectChoice(m.value, label) for m, label in HOLD_LABELS.items()],
        default=HoldMode.DONATE.value,
        validators=[InputRequired()],
    )


class HoldRangeForm(InputForm):
    """Away for a while: every open round from the first day to the last, in one step."""

    first = DayField(_l("First day away"), validators=[InputRequired()])
    last = DayField(_l("Last day away"), validators=[InputRequired()])
    mode = _mode_field()
    submit = SubmitField(_l("Put these rounds on hold"))


class ClearRangeForm(InputForm):
    """Back early: take the holds off every round from the first day to the last."""

    first = DayField(_l("From"), validators=[InputRequired()])
    last = DayField(_l("To"), validators=[InputRequired()])
    submit = SubmitField(_l("Cancel these holds"))


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes: easier to tap on a phone than a multiple select."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class OptOutForm(InputForm):
    crops = MultiCheckboxField(_l("Crops we never want"), coerce=int, validate_choice=True)
    submit = SubmitField(_l("Save"))
