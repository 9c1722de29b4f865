"""Forms of the register. Decimals accept a comma or a point: farmers in Poland type commas."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    DateField,
    EmailField,
    Form,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from csa.core.quantity import UNITS, QuantityError, milli_to_str, parse_milli
from csa.models import MembershipStatus, Role
from csa.register.operations import STAFF_ROLES
from csa.ui.formatting import unit_label, weekday_name
from csa.ui.labels import MEMBERSHIP_STATUS_LABELS

_MONEY = re.compile(r"^(\d{1,7})(?:[.,](\d{1,2}))?$")

STATUS_LABELS = MEMBERSHIP_STATUS_LABELS
ROLE_LABELS = {
    Role.MEMBER: _l("member"),
    Role.FARMER: _l("farmer"),
    Role.COORDINATOR: _l("coordinator"),
    Role.ADMIN: _l("admin"),
}


def options(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """Turn (value, label) pairs into the choices WTForms 3.3 wants."""
    return [SelectChoice(value, label) for value, label in pairs]


def parse_cents(text: str) -> int:
    """Read money as typed, "650", "650,00" or "1 200.50", as whole cents."""
    cleaned = text.strip().replace("\u00a0", "").replace(" ", "")
    match = _MONEY.match(cleaned)
    if not match:
        raise ValueError(text)
    return int(match.group(1)) * 100 + int((match.group(2) or "").ljust(2, "0"))


def cents_to_str(cents: int) -> str:
    """Print cents for a form field: 65000 -> "650.00"."""
    return f"{cents // 100}.{cents % 100:02d}"


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

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return milli_to_str(self.data) if self.data is not None else ""


class MoneyField(StringField):
    """An amount typed as "650,00", held as an integer of cents."""

    data: int | None

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            self.data = parse_cents(str(valuelist[0]))
        except ValueError:
            self.data = None
            raise ValueError(_l("Enter an amount like 650,00.")) from None

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return cents_to_str(self.data) if self.data is not None else ""


class RegisterFilterForm(Form):
    """The register's search and filters, read from the query string (GET, no CSRF)."""

    q = StringField(_l("Name or e-mail"))
    season = SelectField(_l("Season"), validate_choice=False)
    site = SelectField(_l("Pickup site"), validate_choice=False)
    share_type = SelectField(_l("Share type"), validate_choice=False)
    status = SelectField(_l("Status"), validate_choice=False)


class MembershipForm(FlaskForm):
    """The terms of one contract."""

    season = SelectField(_l("Season"), coerce=int, validators=[InputRequired()])
    share_type = SelectField(_l("Share type"), coerce=int, validators=[InputRequired()])
    shares = IntegerField(
        _l("Number of shares"), default=1, validators=[InputRequired(), NumberRange(1, 999)]
    )
    site = SelectField(_l("Pickup site"), coerce=int, validators=[InputRequired()])
    start = DateField(_l("Start"), validators=[Optional()])
    end = DateField(_l("End"), validators=[Optional()])
    status = SelectField(
        _l("Status"),
        choices=options([(s.value, label) for s, label in STATUS_LABELS.items()]),
        default=MembershipStatus.ACTIVE.value,
    )
    submit = SubmitField(_l("Save"))


class NewMembershipForm(MembershipForm):
    """A membership for a household that may not be in the register yet."""

    name = StringField(_l("Name"), validators=[Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Length(max=50)])


class MemberForm(FlaskForm):
    """A household's details."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Length(max=50)])
    address = StringField(_l("Address"), validators=[Length(max=300)])
    locale = SelectField(_l("Language"))
    notes = TextAreaField(_l("Notes"))
    submit = SubmitField(_l("Save"))


class SeasonForm(FlaskForm):
    """A contract period."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    start = DateField(_l("Start"), validators=[InputRequired()])
    end = DateField(_l("End"), validators=[InputRequired()])
    submit = SubmitField(_l("Save"))


class ShareTypeForm(FlaskForm):
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


class PickupSiteForm(FlaskForm):
    """A depot and when it opens."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    address = StringField(_l("Address"), validators=[Length(max=300)])
    weekday = SelectField(_l("Weekday"), coerce=int, validators=[InputRequired()])
    opens = TimeField(_l("Opens"), validators=[InputRequired()])
    closes = TimeField(_l("Closes"), validators=[InputRequired()])
    capacity = IntegerField(
        _l("Capacity (memberships)"), default=50, validators=[InputRequired(), NumberRange(0)]
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


class CropForm(FlaskForm):
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


class StaffUserForm(FlaskForm):
    """A farmer, coordinator or admin login, invited by link."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    name = StringField(_l("Name"), validators=[Length(max=200)])
    role = SelectField(
        _l("Role"),
        choices=options([(r.value, ROLE_LABELS[r]) for r in STAFF_ROLES]),
        default=Role.FARMER.value,
    )
    submit = SubmitField(_l("Create and show the invitation link"))


class RoleForm(FlaskForm):
    """The role of one login."""

    role = SelectField(
        _l("Role"), choices=options([(r.value, label) for r, label in ROLE_LABELS.items()])
    )
    submit = SubmitField(_l("Change role"))


class ImportForm(FlaskForm):
    """A CSV file of members and memberships."""

    file = FileField(_l("CSV file"), validators=[FileRequired()])
    submit = SubmitField(_l("Import"))
