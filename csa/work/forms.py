"""The forms of member work: a job, attendance, the member's transfer and buy-out, the farm's
settings. Hours are typed as "2,5" and read into minutes (csa/core/work.py)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField, TimeField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from csa.core.work import HoursError, parse_hours
from csa.models import WORK_DESCRIPTION_MAX, WORK_PLACE_MAX, WORK_TITLE_MAX
from csa.ui.forms import DayField, InputForm, MoneyField, WholeNumberField, options

HOURS_MAX = 12  # characters of an hours field ("1000" or "2,25")


class HoursField(StringField):
    """Hours typed as "2,5", held as whole minutes in `minutes` (None until valid)."""

    def __init__(self, *args: Any, allow_zero: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allow_zero = allow_zero
        self.minutes: int | None = None

    def post_validate(self, form: Any, validation_stopped: bool) -> None:
        if validation_stopped:
            return
        try:
            self.minutes = parse_hours(self.data or "", allow_zero=self.allow_zero)
        except HoursError:
            self.minutes = None
            raise ValidationError(_l("Enter hours like 2 or 2,5 (up to 1000).")) from None


class JobForm(InputForm):
    title = StringField(_l("Title"), validators=[InputRequired(), Length(max=WORK_TITLE_MAX)])
    description = TextAreaField(_l("Description"), validators=[Length(max=WORK_DESCRIPTION_MAX)])
    place = StringField(_l("Place"), validators=[Length(max=WORK_PLACE_MAX)])
    flexible = BooleanField(_l("Flexible task: done any time until the due date"))
    day = DayField(_l("Day"), validators=[Optional()], format="%Y-%m-%d")
    starts = TimeField(_l("From"), validators=[Optional()])
    ends = TimeField(_l("Until"), validators=[Optional()])
    due_on = DayField(_l("Due date (flexible task)"), validators=[Optional()], format="%Y-%m-%d")
    slots = WholeNumberField(
        _l("Slots (households needed)"), validators=[InputRequired(), NumberRange(1, 500)]
    )
    hours = HoursField(
        _l("Hours credited to each household"), validators=[InputRequired(), Length(max=HOURS_MAX)]
    )
    deadline_day = DayField(
        _l("Sign up and cancel until (empty: until it starts)"),
        validators=[Optional()],
        format="%Y-%m-%d",
    )
    deadline_time = TimeField(_l("at"), validators=[Optional()])
    submit = SubmitField(_l("Save the job"))

    def validate(self, extra_validators: Any = None) -> bool:
        """A job at a time needs its day and hours; a flexible task its due date (the fields
        are optional one by one, so the rule that joins them is checked here)."""
        ok = super().validate(extra_validators)
        if self.flexible.data:
            if self.due_on.data is None and not self.due_on.errors:
                self.due_on.errors = [_l("A flexible task needs a due date.")]
                ok = False
        elif (
            self.day.data is None or self.starts.data is None or self.ends.data is None
        ) and not self.day.errors:
            self.day.errors = [_l("Give the day and the hours of the job.")]
            ok = False
        return ok


class ConfirmForm(InputForm):
    came = SelectField(
        _l("Attendance"),
        choices=options([("yes", _l("Came")), ("no", _l("Did not come"))]),
        validators=[InputRequired()],
    )
    hours = HoursField(
        _l("Hours worked"), validators=[InputRequired(), Length(max=HOURS_MAX)], allow_zero=True
    )
    submit = SubmitField(_l("Record"))


class GiveForm(InputForm):
    email = StringField(
        _l("E-mail address of the other household"),
        validators=[InputRequired(), Length(max=254)],
    )
    hours = HoursField(_l("Hours to give"), validators=[InputRequired(), Length(max=HOURS_MAX)])
    submit = SubmitField(_l("Give the hours"))


class BuyoutForm(InputForm):
    hours = HoursField(_l("Hours to buy out"), validators=[InputRequired(), Length(max=HOURS_MAX)])
    submit = SubmitField(_l("Buy out"))


class SettingsForm(InputForm):
    rate = MoneyField(_l("Price of an hour bought out (0: not offered)"))
    currency = StringField(_l("Currency"), validators=[InputRequired(), Length(min=3, max=3)])
    call_days = WholeNumberField(
        _l("Call the households that owe hours this many days before an understaffed job"),
        validators=[InputRequired(), NumberRange(0, 60)],
    )
    submit = SubmitField(_l("Save"))

    def validate_currency(self, field: StringField) -> None:
        if not (field.data or "").isascii() or not (field.data or "").isalpha():
            raise ValidationError(_l("Use the three letters of the currency, such as EUR."))


class RequirementForm(InputForm):
    """The hours of one share type, one small form per row of the settings page."""

    hours = HoursField(
        _l("Hours per share and season"),
        validators=[InputRequired(), Length(max=HOURS_MAX)],
        allow_zero=True,
    )
    submit = SubmitField(_l("Save"))
