"""Forms that several features' pages use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SubmitField


class EmptyForm(FlaskForm):
    """A bare button that still carries the CSRF token."""

    submit = SubmitField(_l("Confirm"))


def options(pairs: Iterable[tuple[Any, Any]]) -> list[SelectChoice]:
    """Turn (value, label) pairs into the choices WTForms 3.3 wants."""
    return [SelectChoice(value, label) for value, label in pairs]
