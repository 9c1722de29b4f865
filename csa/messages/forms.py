"""Forms of the messages pages: compose (with its audience), hide, site note, unsubscribe."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from csa.models import MESSAGE_BODY_MAX, MESSAGE_SUBJECT_MAX, SITE_NOTE_MAX
from csa.ui.forms import InputForm


class Checkboxes(SelectMultipleField):
    """A list of checkboxes: easier to tap on a phone than a multiple select."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ComposeForm(InputForm):
    """A message: whom to (the choices are set by the view for the sender's role), what, and
    an optional version in a second language and an attachment."""

    audience = SelectField(_l("Write to"), choices=[], validate_choice=True)
    sites = Checkboxes(_l("Pickup sites"), coerce=int, validate_choice=True)
    share_types = Checkboxes(_l("Share types"), coerce=int, validate_choice=True)
    household = SelectField(_l("Household"), coerce=int, choices=[], validate_choice=False)
    round_id = SelectField(_l("Round"), coerce=int, choices=[], validate_choice=False)
    subject = StringField(
        _l("Subject"), validators=[DataRequired(), Length(max=MESSAGE_SUBJECT_MAX)]
    )
    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=MESSAGE_BODY_MAX)])
    locale2 = SelectField(_l("Second language"), choices=[], default="", validate_choice=True)
    subject2 = StringField(
        _l("Subject in the second language"),
        validators=[Optional(), Length(max=MESSAGE_SUBJECT_MAX)],
    )
    body2 = TextAreaField(
        _l("Message in the second language"),
        validators=[Optional(), Length(max=MESSAGE_BODY_MAX)],
    )
    essential = BooleanField(_l("Essential (reaches households that unsubscribed)"))
    attachment = FileField(_l("Attachment (PDF, PNG or JPEG)"))
    preview = SubmitField(_l("Preview"))
    send = SubmitField(_l("Send"))


class HideForm(InputForm):
    hide = SubmitField(_l("Hide from members"))
    show = SubmitField(_l("Show to members again"))


class SiteNoteForm(InputForm):
    round_id = SelectField(_l("Round"), coerce=int, choices=[], validate_choice=True)
    site_id = SelectField(_l("Pickup site"), coerce=int, choices=[], validate_choice=True)
    text = StringField(
        _l("Note (empty removes it)"), validators=[Optional(), Length(max=SITE_NOTE_MAX)]
    )
    submit = SubmitField(_l("Save the note"))


class UnsubscribeForm(InputForm):
    submit = SubmitField(_l("Unsubscribe"))


class SubscriptionForm(InputForm):
    unsubscribe = SubmitField(_l("No more messages by e-mail"))
    resubscribe = SubmitField(_l("E-mail me the farm's messages again"))
