"""Forms of the privacy pages: a deletion request, a refusal, the anonymise confirmation."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from csa.privacy.operations import TEXT_MAX
from csa.ui.forms import InputForm

_LONG = _l("Write at most %(max)d characters.")


class DeletionRequestForm(InputForm):
    reason = TextAreaField(
        _l("Anything the farm should know (optional)"),
        validators=[Optional(), Length(max=TEXT_MAX, message=_LONG)],
    )
    submit = SubmitField(_l("Ask the farm to delete our data"))


class RefuseForm(InputForm):
    answer = TextAreaField(
        _l("Why not (the household reads it)"),
        validators=[
            DataRequired(message=_l("Say why, for the household to read.")),
            Length(max=TEXT_MAX, message=_LONG),
        ],
    )
    submit = SubmitField(_l("Refuse the request"))


class AnonymiseForm(InputForm):
    confirm = BooleanField(
        _l("Remove this household's personal data for good"),
        validators=[DataRequired(message=_l("Tick the box to confirm: it cannot be undone."))],
    )
    submit = SubmitField(_l("Anonymise"))
