"""How people and places are put in order: one key for every list, page and sheet."""

from __future__ import annotations

import unicodedata

_FOLD = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "đ": "d", "Đ": "D", "ß": "ss"})


def fold(text: str) -> str:
    """Accents off and case folded: "Żak" sorts with "Zak", "Łuk" with "Luk"."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def surname(name: str) -> str:
    """The last word of a name: the sort key of lists and sheets."""
    words = name.split()
    return words[-1] if words else ""


def person_key(name: str, tiebreak: int = 0) -> tuple[str, str, str, int]:
    """Surname, then the whole name, both folded; then the name as written and a stable id."""
    return (fold(surname(name)), fold(name), name, tiebreak)


def place_key(name: str, tiebreak: int = 0) -> tuple[str, int]:
    return (fold(name), tiebreak)
