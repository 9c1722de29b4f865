"""Forms of the sign-up: the public request, the coordinators' decline and the terms."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange

from csa.models import NOTE_MAX
from csa.signup.operations import MAX_SHARES, TERMS_MAX, SignupData
from csa.ui.forms import InputForm, WholeNumberField, options

HONEYPOT = "website"  # the trap field's name: people never see it, bots fill it


def _id_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class JoinForm(InputForm):
    """A household asks to join a season; the choices are set per request from the farm."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Length(max=50)])
    address = StringField(_l("Address"), validators=[Length(max=300)])
    locale = SelectField(_l("Language of the farm's messages to you"))
    season = SelectField(_l("Season"), coerce=_id_or_none, validate_choice=False)
    share_type = SelectField(_l("Share type"), coerce=_id_or_none, validate_choice=False)
    shares = WholeNumberField(
        _l("Number of shares"),
        default=1,
        validators=[InputRequired(), NumberRange(1, MAX_SHARES)],
    )
    site = SelectField(_l("Pickup site"), coerce=_id_or_none, validate_choice=False)
    accept_terms = BooleanField(
        _l("I accept the farm's contract terms above"),
        validators=[DataRequired(_l("Accept the contract terms to sign up."))],
    )
    accept_privacy = BooleanField(
        _l("I agree that the farm keeps these details to run my membership"),
        validators=[DataRequired(_l("Agree to the privacy notice to sign up."))],
    )
    terms_version = HiddenField()
    stamp = HiddenField()
    # The honeypot: hidden from sight by CSS, labelled for screen readers.
    website = StringField(_l("Leave this field empty"), validators=[Length(max=2000)])
    submit = SubmitField(_l("Sign up"))

    def set_choices(
        self,
        seasons: list[tuple[int, str]],
        share_types: list[tuple[int, str]],
        sites: list[tuple[int, str]],
        languages: list[tuple[str, str]],
    ) -> None:
        self.season.choices = options(seasons)
        self.share_type.choices = options(share_types)
        self.site.choices = options(sites)
        self.locale.choices = options(languages)

    def data_for(self) -> SignupData:
        return SignupData(
            name=self.name.data or "",
            email=self.email.data or "",
            phone=self.phone.data or "",
            address=self.address.data or "",
            locale=self.locale.data or "",
            season_id=self.season.data,
            share_type_id=self.share_type.data,
            shares=self.shares.data,
            site_id=self.site.data,
            terms_id=_id_or_none(self.terms_version.data),
        )


class DeclineForm(InputForm):
    reason = StringField(
        _l("Reason (the household reads it)"),
        validators=[DataRequired(), Length(max=NOTE_MAX)],
    )
    submit = SubmitField(_l("Decline"))


class TermsForm(InputForm):
    text = TextAreaField(_l("Contract terms"), validators=[DataRequired(), Length(max=TERMS_MAX)])
    submit = SubmitField(_l("Save as a new version"))
