"""Forms of the harvest pages; the rules themselves are checked in csa.harvest.operations."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectField, StringField, SubmitField

from csa.harvest.operations import CropRef, Line

EMPTY_LINES = 5  # without JavaScript the form still takes this many crops at once


class LineForm(Form):
    """One crop and its quantity; a plain Form so it carries no CSRF token of its own."""

    crop = StringField(_l("Crop"))
    quantity = StringField(_l("Quantity"))


class HarvestForm(FlaskForm):
    # No choice validation: a round locked since the page loaded gets the service's message.
    round_id = SelectField(_l("Round"), choices=[], validate_choice=False)
    lines = FieldList(FormField(LineForm), min_entries=EMPTY_LINES)
    submit = SubmitField(_l("Record harvest"))

    def line_values(self) -> list[Line]:
        """The lines in form order (blank ones too, so problems keep their line index)."""
        values: list[Line] = []
        for entry in self.lines:
            raw = (entry.form.crop.data or "").strip()
            ref: CropRef = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 10 else raw
            values.append((ref, entry.form.quantity.data or ""))
        return values


class EntryForm(FlaskForm):
    quantity = StringField(_l("Quantity"))
    submit = SubmitField(_l("Save"))
