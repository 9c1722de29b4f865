"""Forms of the harvest pages; the rules themselves are checked in csa.harvest.operations."""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from wtforms import (
    FieldList,
    FormField,
    HiddenField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.utils import unset_value
from wtforms.validators import InputRequired, Regexp

from csa.harvest.operations import CropRef, Line
from csa.ui.forms import InputForm, InputSubForm

EMPTY_LINES = 5  # without JavaScript the form still takes this many crops at once
# The one-time token of a harvest form (secrets.token_urlsafe(16) makes 22 characters).
SUBMISSION_PATTERN = r"^[A-Za-z0-9_-]{16,64}$"


def new_token() -> str:
    """A fresh one-time token for a harvest form, so its resend is recognised."""
    return secrets.token_urlsafe(16)


class LineForm(InputSubForm):
    """One crop and its quantity; a plain Form so it carries no CSRF token of its own."""

    crop = StringField(_l("Crop"))
    quantity = StringField(_l("Quantity"))


class LineList(FieldList):
    """The harvest lines, read no further than one past MAX_HARVEST_LINES.

    A form with thousands of lines is not read whole (it took seconds of a worker); the
    one extra line read tells the view to refuse it with a message.
    """

    def process(self, formdata: Any, data: Any = unset_value, extra_filters: Any = None) -> None:
        self.max_entries = max_lines() + 1
        super().process(formdata, data, extra_filters)


def max_lines() -> int:
    """The most lines one harvest form may send."""
    return int(current_app.config["MAX_HARVEST_LINES"])


class HarvestForm(InputForm):
    # No choice validation: a round locked since the page loaded gets the service's message.
    round_id = SelectField(_l("Round"), choices=[], validate_choice=False)
    lines = LineList(FormField(LineForm), min_entries=EMPTY_LINES)
    # Set when the page is served and kept while the form is corrected; a form sent again
    # with a token already saved is answered "already saved" (csa/harvest/operations.py).
    submission = HiddenField(validators=[InputRequired(), Regexp(SUBMISSION_PATTERN)])
    submit = SubmitField(_l("Record harvest"))

    def too_many_lines(self) -> bool:
        """True when the form sent more lines than MAX_HARVEST_LINES."""
        return len(self.lines.entries) > max_lines()

    def line_values(self) -> list[Line]:
        """The lines in form order (blank ones too, so problems keep their line index)."""
        values: list[Line] = []
        for entry in self.lines:
            raw = (entry.form.crop.data or "").strip()
            ref: CropRef = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else raw
            values.append((ref, entry.form.quantity.data or ""))
        return values


class EntryForm(InputForm):
    quantity = StringField(_l("Quantity"))
    submit = SubmitField(_l("Save"))
