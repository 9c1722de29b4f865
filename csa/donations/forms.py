"""The partner and route forms of the Food sharing desk."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, EmailField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from csa.models import NOTE_MAX
from csa.ui.forms import InputForm


class PartnerForm(InputForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    contact_name = StringField(_l("Contact person"), validators=[Length(max=100)])
    email = EmailField(
        _l("E-mail (gets the pickup sheet when a round locks)"),
        validators=[Optional(), Length(max=254)],
    )
    phone = StringField(_l("Phone"), validators=[Length(max=40)])
    address = StringField(_l("Address"), validators=[Length(max=300)])
    pickup_note = TextAreaField(
        _l("When and where it collects (printed on its sheet)"),
        validators=[Length(max=NOTE_MAX)],
    )
    takes_surplus = BooleanField(_l("Takes the round's surplus too"))
    submit = SubmitField(_l("Save"))


class RouteForm(InputForm):
    site = SelectField(_l("Pickup site"), coerce=int, validators=[DataRequired()])
    partner = SelectField(_l("Donated shares go to"), coerce=int)
    note = StringField(
        _l("When and where the partner collects there"), validators=[Length(max=NOTE_MAX)]
    )
    submit = SubmitField(_l("Save the route"))
