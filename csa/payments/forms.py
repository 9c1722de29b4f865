"""The payments desk's forms: a payment typed by hand, a statement upload, the CSV mapping,
a hand match of an unmatched payment, and the list's filter."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, IntegerField, SelectField, StringField, SubmitField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from csa.models import NOTE_MAX, PaymentMethod
from csa.ui.forms import DayField, InputForm, InputSubForm, MoneyField, options

METHOD_LABELS = {
    PaymentMethod.TRANSFER: _l("Bank transfer"),
    PaymentMethod.CASH: _l("Cash"),
    PaymentMethod.DIRECT_DEBIT: _l("Direct debit"),
    PaymentMethod.OTHER: _l("Other"),
}


class PaymentForm(InputForm):
    booked_on = DayField(_l("Date"), validators=[InputRequired()])
    amount = MoneyField(_l("Amount"), positive=True, validators=[InputRequired()])
    method = SelectField(
        _l("Method"),
        choices=options((m.value, label) for m, label in METHOD_LABELS.items()),
        default=PaymentMethod.CASH.value,
    )
    member = SelectField(_l("Household"), coerce=int, validate_choice=True)
    note = StringField(_l("Note"), validators=[Length(max=NOTE_MAX)])
    submit = SubmitField(_l("Record payment"))


class ImportForm(InputForm):
    file = FileField(_l("Bank statement (camt.053, camt.054 or CSV)"), validators=[FileRequired()])
    format = SelectField(
        _l("Format"),
        choices=options(
            [
                ("auto", _l("Recognise it")),
                ("camt", _l("camt XML")),
                ("csv", _l("CSV (saved mapping)")),
            ]
        ),
        default="auto",
    )
    submit = SubmitField(_l("Import"))


DATE_FORMAT_LABELS = [
    ("%d.%m.%Y", "31.12.2027"),
    ("%Y-%m-%d", "2027-12-31"),
    ("%d/%m/%Y", "31/12/2027"),
    ("%m/%d/%Y", "12/31/2027"),
    ("%d-%m-%Y", "31-12-2027"),
    ("%Y%m%d", "20271231"),
]
DELIMITER_LABELS = [
    (";", _l("Semicolon ;")),
    (",", _l("Comma ,")),
    ("\t", _l("Tab")),
    ("|", _l("Bar |")),
]


def _column(label: object, required: bool = True) -> IntegerField:
    low = 1 if required else 0
    return IntegerField(label, validators=[InputRequired(), NumberRange(low, 99)])


class MappingForm(InputForm):
    date_column = _column(_l("Column of the booking date"))
    amount_column = _column(_l("Column of the amount"))
    currency_column = IntegerField(
        _l("Column of the currency (0: none, the farm's currency)"),
        validators=[InputRequired(), NumberRange(0, 99)],
    )
    payer_column = _column(_l("Column of the payer's name"))
    reference_column = _column(_l("Column of the reference or purpose"))
    date_format = SelectField(_l("Date format"), choices=options(DATE_FORMAT_LABELS))
    decimal_comma = BooleanField(_l("Amounts use a decimal comma (1.234,56)"))
    delimiter = SelectField(_l("Delimiter"), choices=options(DELIMITER_LABELS))
    header_rows = IntegerField(
        _l("Lines to skip at the top (headers)"), validators=[InputRequired(), NumberRange(0, 50)]
    )
    submit = SubmitField(_l("Save"))


class MatchForm(InputForm):
    member = SelectField(_l("Household"), coerce=int, validate_choice=True)
    submit = SubmitField(_l("Match"))


class PaymentFilter(InputSubForm):
    q = StringField(_l("Payer, reference or note"), validators=[Optional(), Length(max=100)])
    source = SelectField(
        _l("Source"),
        choices=options(
            [
                ("", _l("All")),
                ("hand", _l("Recorded by hand")),
                ("statement", _l("Bank statement")),
                ("unmatched", _l("Unmatched")),
                ("credit", _l("With credit left")),
            ]
        ),
        default="",
        validate_choice=False,
    )


class ExportForm(InputSubForm):
    start = DayField(_l("From"), validators=[InputRequired()])
    end = DayField(_l("To"), validators=[InputRequired()])
