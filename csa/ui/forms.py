"""Forms that several features' pages use, and the base every form of the app derives from.

`InputForm` (and `InputSubForm` for the plain forms inside one or read from a query
string) cleans every text field the same way as it is read: a single-line field through
`clean_line`, a text area through `clean_lines` (csa/core/text.py), passwords untouched.
tests/test_text_input.py checks that every form in csa/*/forms.py derives from them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import flash
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    Form,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectChoice,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.core import UnboundField
from wtforms.validators import ValidationError

from csa.core.bounds import FIRST_DAY, LAST_DAY, day_in_range
from csa.core.money import MAX_CENTS, AmountError, cents_to_str, parse_cents
from csa.core.text import clean_line, clean_lines
from csa.errors import ValidationFailed
from csa.extensions import db


def _line(value: Any) -> Any:
    return clean_line(value) if isinstance(value, str) else value


def _lines(value: Any) -> Any:
    return clean_lines(value) if isinstance(value, str) else value


def text_filter(field_class: type) -> Any:
    """The cleaning a field of this class gets, or None (passwords and tokens stay as typed)."""
    if not issubclass(field_class, StringField):
        return None
    if issubclass(field_class, PasswordField | HiddenField):
        return None
    return _lines if issubclass(field_class, TextAreaField) else _line


class _CleanTextMeta:
    """Put the text filter first in every text field's filters, as the form binds it."""

    def bind_field(self, form: Any, unbound_field: UnboundField, options: dict[str, Any]) -> Any:
        clean = text_filter(unbound_field.field_class)
        if clean is not None:
            filters = (clean, *unbound_field.kwargs.get("filters", ()))
            options = {**options, "filters": filters}
        return super().bind_field(form, unbound_field, options)  # type: ignore[misc]


class InputForm(FlaskForm):
    """Every form the app posts: CSRF, and its text cleaned as it is read."""

    class Meta(_CleanTextMeta):
        pass


class InputSubForm(Form):
    """A form without CSRF (a line inside another form, the register's query filters)."""

    class Meta(_CleanTextMeta):
        pass


class EmptyForm(InputForm):
    """A bare button that still carries the CSRF token."""

    submit = SubmitField(_l("Confirm"))


class WholeNumberField(IntegerField):
    """An integer field that refuses more than nine digits before any validator runs.

    WTForms' NumberRange compares through math.isnan, which overflows on an integer of
    hundreds of digits (a 500 instead of a message); no count in this app needs ten digits.
    """

    data: int | None

    def process_formdata(self, valuelist: list[Any]) -> None:
        if valuelist and len(str(valuelist[0]).strip().lstrip("+-")) > 9:
            self.data = None
            raise ValueError(_l("That number is too large."))
        super().process_formdata(valuelist)


class MoneyField(StringField):
    """An amount typed as "650,00" or "1 200.50", held as an integer of cents (≥ 0).

    `positive=True` refuses zero; `maximum` caps it (csa/core/money.py MAX_CENTS by default).
    """

    data: int | None

    def __init__(
        self, *args: Any, positive: bool = False, maximum: int = MAX_CENTS, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.positive = positive
        self.maximum = maximum

    def process_formdata(self, valuelist: list[Any]) -> None:
        if not valuelist or not str(valuelist[0]).strip():
            self.data = None
            return
        try:
            self.data = parse_cents(str(valuelist[0]), maximum=self.maximum)
        except AmountError:
            self.data = None
            raise ValueError(_l("Enter an amount like 650,00.")) from None
        if self.positive and self.data == 0:
            self.data = None
            raise ValueError(_l("Enter an amount above zero."))

    def _value(self) -> str:
        if self.raw_data:
            return str(self.raw_data[0])
        return cents_to_str(self.data) if self.data is not None else ""


class DayField(DateField):
    """A date inside the range the app keeps records for (csa/core/bounds.py).

    A year such as 9999 parses as a date but overflows the first week added to it, so it is
    refused here, next to the field, before any operation sees it.
    """

    def pre_validate(self, form: Any) -> None:
        if self.data is not None and not day_in_range(self.data):
            raise ValidationError(
                _(
                    "Choose a date from %(first)s to %(last)s.",
                    first=FIRST_DAY.isoformat(),
                    last=LAST_DAY.isoformat(),
                )
            )


def options(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """Turn (value, label) pairs into the choices WTForms 3.3 wants."""
    return [SelectChoice(value, label) for value, label in pairs]


def refuse(form: FlaskForm | None, exc: ValidationFailed) -> None:
    """Undo what the operation started and show its message next to the field it names."""
    db.session.rollback()
    field = getattr(exc, "field", None)
    if form is not None and field and field in form:
        form[field].errors = [*form[field].errors, str(exc)]
    else:
        flash(str(exc), "error")


def flash_errors(form: FlaskForm) -> None:
    """Say why a form was refused (nothing was written), field by field."""
    for field in form:
        for error in field.errors:
            if field.name == "csrf_token":
                flash(str(error), "error")
            else:
                flash(_("%(field)s: %(problem)s", field=field.label.text, problem=error), "error")
