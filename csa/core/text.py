"""What text people type may hold: the one place that says which characters are refused,
which are dropped, and when a name is empty although it is not.

Refused outright (the request answers 400, csa/ui/inputs.py): NUL and the other C0 control
characters except tab, line feed and carriage return, and DEL. PostgreSQL cannot store NUL
at all, and none of them is ever typed on purpose.

Dropped from single-line fields (names, e-mails, phones, addresses, reasons): line breaks
and tabs (a blank instead), the bidirectional overrides, embeddings, isolates and marks that
can make "Anna" display as another name, and zero-width characters; then the text is put in
Unicode NFC, runs of blanks become one, and the ends are trimmed. A field left with no
visible character counts as empty.
"""

from __future__ import annotations

import re
import unicodedata

# C0 controls except tab, LF and CR; and DEL. C1 controls (U+0080-U+009F) too: they come
# only from a wrongly decoded file.
_REFUSED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Bidi embeddings/overrides (U+202A-U+202E), isolates (U+2066-U+2069), marks (LRM, RLM,
# ALM), zero-width space/joiners and the BOM: invisible, they only reorder or hide text.
_INVISIBLE = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_INVISIBLE += "\u200b\u200c\u200d\u2060\ufeff"
_DROP = re.compile(f"[{_INVISIBLE}]")
_LINE_BREAKS = re.compile("[\t\n\r\v\f\u0085\u2028\u2029]")
_BLANKS = re.compile(r"\s+")
# Letters that render as nothing although Unicode calls them letters (Hangul fillers) and
# the blank Braille pattern.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def refused(text: str) -> bool:
    """True when the text holds a character no field may hold (NUL, other C0 controls)."""
    return _REFUSED.search(text) is not None


def clean_line(text: str) -> str:
    """A single-line value as stored: no controls or invisible marks, NFC, blanks collapsed."""
    text = _REFUSED.sub("", text)
    text = _LINE_BREAKS.sub(" ", text)
    text = _DROP.sub("", text)
    text = unicodedata.normalize("NFC", text)
    text = _BLANKS.sub(" ", text).strip()
    return text if visible(text) else ""


def clean_lines(text: str) -> str:
    """A multi-line value (notes) as stored: line breaks kept as LF, the rest as clean_line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(clean_line(line) for line in lines).strip("\n")


def visible(text: str) -> bool:
    """True when the text shows at least one character (a letter, digit, sign or mark)."""
    for char in text:
        category = unicodedata.category(char)
        if category[0] in "CZ" or char in _BLANK_LETTERS:
            continue
        return True
    return False
