"""Forms that several features' pages use."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SubmitField


class EmptyForm(FlaskForm):
    """A bare button that still carries the CSRF token."""

    submit = SubmitField(_l("Confirm"))
