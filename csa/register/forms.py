"""Forms of the register: memberships, members and the CSV import."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    EmailField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from csa.models import MEMBER_NOTES_MAX, HoldMode, MembershipStatus
from csa.ui.forms import DayField, InputForm, InputSubForm, WholeNumberField, options
from csa.ui.labels import MEMBERSHIP_STATUS_LABELS

STAFF_HOLD_MODES = {
    HoldMode.DONATE: _l("The share is donated"),
    HoldMode.OTHERS: _l("The share goes to the other members"),
}

STATUS_LABELS = MEMBERSHIP_STATUS_LABELS


class RegisterFilterForm(InputSubForm):
    """The register's search and filters, read from the query string (GET, no CSRF)."""

    q = StringField(_l("Name or e-mail"))
    season = SelectField(_l("Season"), validate_choice=False)
    site = SelectField(_l("Pickup site"), validate_choice=False)
    share_type = SelectField(_l("Share type"), validate_choice=False)
    status = SelectField(_l("Status"), validate_choice=False)


class MembershipForm(InputForm):
    """The terms of one contract."""

    season = SelectField(_l("Season"), coerce=int, validators=[InputRequired()])
    share_type = SelectField(_l("Share type"), coerce=int, validators=[InputRequired()])
    shares = WholeNumberField(
        _l("Number of shares"), default=1, validators=[InputRequired(), NumberRange(1, 999)]
    )
    site = SelectField(_l("Pickup site"), coerce=int, validators=[InputRequired()])
    start = DayField(_l("Start"), validators=[Optional()])
    end = DayField(_l("End"), validators=[Optional()])
    trial_end = DayField(_l("Trial ends"), validators=[Optional()])
    status = SelectField(
        _l("Status"),
        choices=options([(s.value, label) for s, label in STATUS_LABELS.items()]),
        default=MembershipStatus.ACTIVE.value,
    )
    submit = SubmitField(_l("Save"))


class NewMembershipForm(MembershipForm):
    """A membership for a household that may not be in the register yet."""

    name = StringField(_l("Name"), validators=[Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Length(max=50)])


class MemberForm(InputForm):
    """A household's details."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    phone = StringField(_l("Phone"), validators=[Length(max=50)])
    address = StringField(_l("Address"), validators=[Length(max=300)])
    locale = SelectField(_l("Language"))
    notes = TextAreaField(_l("Notes"), validators=[Length(max=MEMBER_NOTES_MAX)])
    submit = SubmitField(_l("Save"))


class ImportForm(InputForm):
    """A CSV file of members and memberships."""

    file = FileField(_l("CSV file"), validators=[FileRequired()])
    submit = SubmitField(_l("Import"))


class StaffHoldForm(InputForm):
    """A coordinator puts a hold for a household (or takes it off): one round or a range."""

    first = DayField(_l("Round, or first day"), validators=[InputRequired()])
    last = DayField(_l("Last day (empty: that round only)"), validators=[Optional()])
    mode = RadioField(
        _l("While the household is away"),
        choices=options([(m.value, label) for m, label in STAFF_HOLD_MODES.items()]),
        default=HoldMode.DONATE.value,
        validators=[InputRequired()],
    )
    action = SelectField(
        _l("What to do"),
        choices=options([("set", _l("Put on hold")), ("clear", _l("Cancel the holds"))]),
        default="set",
    )
    submit = SubmitField(_l("Save the holds"))
