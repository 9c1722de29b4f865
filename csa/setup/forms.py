"""Forms of the farm setup. Decimals accept a comma or a point: farmers in Poland type commas.

Each form says how its fields meet its row (`data_of`, with RENAMED for the fields named
differently) and its save operation in csa/setup/operations.py (`values`), so one edit view
serves all four.
"""

from __future__ import annotations

from typing import Any, ClassVar

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SelectField, StringField, SubmitField, TimeField
from wtforms.fields.core import UnboundField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from csa.core.bounds import INT4_MAX
from csa.core.quantity import UNITS, QuantityError, milli_to_str, parse_milli
from csa.setup.operations import Setting
from csa.ui.formatting import unit_label, weekday_name
from csa.ui.forms import DayField, InputForm, MoneyField, WholeNumberField, options


class MilliField(StringField):
    """A decimal typed as "0,5" or "0.5", held as an integer of thousandths (> 0)."""

    data: int | None

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            self.data = parse_milli(str(valuelist[0]))
        except QuantityError:
            self.data = None
            raise ValueError(
                _l("Enter a number like 0,5 or 1.25 (at most three decimals).")
            ) from None
        if self.data <= 0:
            raise ValueError(_l("Enter a number above zero."))
        if self.data > INT4_MAX:
            self.data = None
            raise ValueError(_l("That number is too large."))

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return milli_to_str(self.data) if self.data is not None else ""


class SettingForm(InputForm):
    """What the generic edit view needs of a setting's form."""

    # Fields held under another name on the row (the row's `weight` is a Fraction, say).
    RENAMED: ClassVar[dict[str, str]] = {}

    @classmethod
    def data_of(cls, row: Setting) -> dict[str, Any]:
        """The form's fields filled from a row, each from the attribute of its (RENAMED) name."""
        names = [n for n in dir(cls) if isinstance(getattr(cls, n), UnboundField)]
        attrs = {n: cls.RENAMED.get(n, n) for n in names}
        return {n: getattr(row, a) for n, a in attrs.items() if hasattr(row, a)}

    def values(self) -> dict[str, Any]:
        """The save operation's keyword arguments, from the validated fields."""
        raise NotImplementedError


class SeasonForm(SettingForm):
    """A contract period."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    start = DayField(_l("Start"), validators=[InputRequired()])
    end = DayField(_l("End"), validators=[InputRequired()])
    signup_open = BooleanField(
        _l("Open for sign-up"),
        description=_l("Newcomers can ask to join this season on the public sign-up page."),
    )
    submit = SubmitField(_l("Save"))

    def values(self) -> dict[str, Any]:
        return {
            "name": self.name.data or "",
            "start": self.start.data,
            "end": self.end.data,
            "signup_open": bool(self.signup_open.data),
        }


class ShareTypeForm(SettingForm):
    """A share size, its weight relative to a full share and its price."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    weight = MilliField(
        _l("Weight (a full share is 1)"),
        validators=[InputRequired()],
        default=1000,
        description=_l("For example 0,5 for a half share or 1,5 for a family share."),
    )
    price = MoneyField(
        _l("Price per season"),
        validators=[InputRequired()],
        default=0,
        description=_l("For example 650,00."),
    )
    submit = SubmitField(_l("Save"))

    RENAMED: ClassVar[dict[str, str]] = {"weight": "weight_milli", "price": "price_cents"}

    def values(self) -> dict[str, Any]:
        return {
            "name": self.name.data or "",
            "weight_milli": self.weight.data or 0,
            "price_cents": self.price.data or 0,
        }


class PickupSiteForm(SettingForm):
    """A depot and when it opens."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    address = StringField(_l("Address"), validators=[Length(max=300)])
    weekday = SelectField(_l("Weekday"), coerce=int, validators=[InputRequired()])
    opens = TimeField(_l("Opens"), validators=[InputRequired()])
    closes = TimeField(_l("Closes"), validators=[InputRequired()])
    capacity = WholeNumberField(
        _l("Capacity (memberships)"),
        default=50,
        validators=[InputRequired(), NumberRange(0, INT4_MAX)],
    )
    every_weeks = SelectField(
        _l("How often"),
        coerce=int,
        choices=options([(1, _l("every week")), (2, _l("every second week"))]),
        default=1,
    )
    week_offset = SelectField(
        _l("Which weeks (every second week only)"),
        coerce=int,
        choices=options([(0, _l("even ISO weeks")), (1, _l("odd ISO weeks"))]),
        default=0,
    )
    submit = SubmitField(_l("Save"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Built per request: the weekday names follow the user's language.
        self.weekday.choices = options([(i, weekday_name(i)) for i in range(7)])

    def values(self) -> dict[str, Any]:
        return {
            "name": self.name.data or "",
            "address": self.address.data or "",
            "weekday": self.weekday.data,
            "opens": self.opens.data,
            "closes": self.closes.data,
            "capacity": self.capacity.data or 0,
            "every_weeks": self.every_weeks.data,
            "week_offset": self.week_offset.data,
        }


class CropForm(SettingForm):
    """A crop, its unit and the smallest amount handed out."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    unit = SelectField(_l("Unit"), validators=[InputRequired()])
    step = MilliField(
        _l("Step: the smallest amount handed out"),
        validators=[InputRequired()],
        default=1000,
        description=_l("In the crop's unit: 0,05 for 50 g steps of kg, 1 for whole bunches."),
    )
    submit = SubmitField(_l("Save"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.unit.choices = options([(u, unit_label(u)) for u in UNITS])

    RENAMED: ClassVar[dict[str, str]] = {"step": "step_milli"}

    def values(self) -> dict[str, Any]:
        return {
            "name": self.name.data or "",
            "unit": self.unit.data or "",
            "step_milli": self.step.data or 0,
        }
