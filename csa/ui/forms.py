"""Forms that several features' pages use."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import flash
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, SubmitField

from csa.errors import ValidationFailed
from csa.extensions import db


class EmptyForm(FlaskForm):
    """A bare button that still carries the CSRF token."""

    submit = SubmitField(_l("Confirm"))


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
