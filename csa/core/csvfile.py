"""The one CSV writer of every export: spreadsheets must never run a cell as a formula.

A cell that starts with = + - @, a tab or a carriage return is run as a formula by Excel,
LibreOffice and Google Sheets (CSV injection). Every text cell is written through `guard`,
which puts an apostrophe before such a cell, as OWASP recommends; the register's import
takes it off again (csa/register/csv_io.py). Numbers the code writes itself (int, Decimal,
Fraction) are never guarded, so -1.5 stays a number; text is guarded unless it is made of
digits and the signs of a number or phone only, which no spreadsheet can run as more than
arithmetic.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from decimal import Decimal
from fractions import Fraction
from typing import TextIO

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Digits, blanks and + - ( ) . / only: "+48 601 000 000", "-1.5", "2027-05-04". Without a
# letter, a colon or a quote no function, reference or DDE call can be written.
PLAIN_NUMBER = re.compile(r"^[+-]?[0-9][0-9 ()./-]*$")


def guard(value: str) -> str:
    """Prefix an apostrophe to a text that a spreadsheet would run as a formula."""
    if value.startswith(FORMULA_START) and not PLAIN_NUMBER.match(value):
        return "'" + value
    return value


def unguard(value: str) -> str:
    """Undo `guard` on a cell read back from a file this app wrote."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def cell(value: object) -> str | int | Decimal | Fraction:
    """A value as written: numbers as they are, None as an empty cell, anything else as
    guarded text (a date or an enum is written as its text)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | Decimal | Fraction):
        return value
    return guard(str(value))


def write_rows(out: TextIO, header: Iterable[str], rows: Iterable[Iterable[object]]) -> None:
    """Write a header and rows to an open text stream, every cell through `cell`."""
    # RFC 4180's CRLF: the csv module then quotes a cell holding a CR as well as an LF, so a
    # stray CR in old data cannot split a row.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])


def csv_text(header: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """The whole file as a string (exports are small enough to build in memory)."""
    out = io.StringIO()
    write_rows(out, header, rows)
    return out.getvalue()
