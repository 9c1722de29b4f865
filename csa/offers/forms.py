"""Forms of the offers and swaps board: offer my share, post a swap."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import RadioField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from csa.core.offers import Target
from csa.models import FRIEND_NAME_MAX
from csa.ui.forms import InputForm

TARGET_LABELS = {
    Target.SITE: _l("The members of my site (the first to accept collects it)"),
    Target.FRIEND: _l("A friend, named on the pickup list"),
    Target.PARTNER: _l("The food-sharing partner"),
}


class OfferForm(InputForm):
    """Offer this round's share: to whom, and the friend's name when it is a friend."""

    target = RadioField(
        _l("Who collects my share"),
        choices=[SelectChoice(t.value, label) for t, label in TARGET_LABELS.items()],
        default=Target.SITE.value,
        validators=[InputRequired()],
    )
    friend_name = StringField(
        _l("Friend's name"), validators=[Optional(), Length(max=FRIEND_NAME_MAX)]
    )
    submit = SubmitField(_l("Offer my share"))


class SwapForm(InputForm):
    """ "My kohlrabi for your beetroot": a crop of my share for another of this round."""

    gives = SelectField(_l("I give"), coerce=int, validators=[InputRequired()])
    wants = SelectField(_l("I would like"), coerce=int, validators=[InputRequired()])
    submit = SubmitField(_l("Post the swap"))
