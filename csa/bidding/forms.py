"""Forms of the bidding round: the coordinators' budget, open and settle forms, the
member's pledge forms (range: the least and the most; single: one amount)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, HiddenField, SelectField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length

from csa.models import NOTE_MAX, BiddingMode, BiddingState
from csa.ui.forms import DayField, InputForm, MoneyField, options

MODE_LABELS = {
    BiddingMode.RANGE: _l("Range: each pledges the least and the most it can pay"),
    BiddingMode.SINGLE: _l("Single: each pledges one amount"),
}
STATE_LABELS = {
    BiddingState.OPEN: _l("open"),
    BiddingState.CLOSED: _l("closed, waiting for a decision"),
    BiddingState.SETTLED: _l("settled"),
    BiddingState.CANCELLED: _l("cancelled"),
}


class BudgetForm(InputForm):
    season = HiddenField()
    budget = MoneyField(_l("Budget of the season"), positive=True, validators=[InputRequired()])
    submit = SubmitField(_l("Save the budget"))


class OpenRoundForm(InputForm):
    season = HiddenField()
    mode = SelectField(
        _l("Mode"),
        choices=options((m.value, label) for m, label in MODE_LABELS.items()),
        validators=[InputRequired()],
    )
    deadline = DayField(_l("Pledges until (the last day)"), validators=[InputRequired()])
    submit = SubmitField(_l("Open the bidding round"))


class SettleForm(InputForm):
    confirm = BooleanField(_l("Settle even though the pledges fall short of the budget"))
    submit = SubmitField(_l("Settle: fix every season price"))


class RangePledgeForm(InputForm):
    round = HiddenField()
    least = MoneyField(_l("The least I can pay"), positive=True, validators=[InputRequired()])
    most = MoneyField(_l("The most I can pay"), positive=True, validators=[InputRequired()])
    reason = TextAreaField(
        _l("Why less? (only the farm's staff read it)"), validators=[Length(max=NOTE_MAX)]
    )
    submit = SubmitField(_l("Save my pledge"))


class SinglePledgeForm(InputForm):
    round = HiddenField()
    amount = MoneyField(_l("What I can pay"), positive=True, validators=[InputRequired()])
    reason = TextAreaField(
        _l("Why less? (only the farm's staff read it)"), validators=[Length(max=NOTE_MAX)]
    )
    submit = SubmitField(_l("Save my pledge"))
