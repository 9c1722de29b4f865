"""Form discovery and hostile values for tests/test_fuzz.py.

The forms are read from the pages the app serves (so their field names are those of
csa/*/forms.py as the templates render them), never from a list kept here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# `CSA_FUZZ=1` (make fuzz) selects the long profile; the normal test run takes a few cases
# per form. Only the tests in tests/test_fuzz.py use these profiles.
settings.register_profile(
    "csa-quick",
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "csa-fuzz",
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LONG_RUN = bool(os.environ.get("CSA_FUZZ"))
PROFILE_NAME = "csa-fuzz" if LONG_RUN else "csa-quick"
PROFILE = settings.get_profile(PROFILE_NAME)

# How many cases ran, per target: tests/conftest.py prints it at the end of the run.
CASES: dict[str, int] = {}

# --- hostile values -------------------------------------------------------------------------

LONG = 100_000
SAMPLES = [
    "",
    " ",
    "0",
    "-1",
    "-0",
    "1e309",
    "NaN",
    "inf",
    "0x10",
    "1_000",
    str(2**31),
    str(2**31 - 1),
    str(-(2**31) - 1),
    str(2**63),
    str(2**63 - 1),
    str(2**64 + 1),
    str(-(2**63) - 1),
    "9" * 400,
    "①",
    "١٢٣",  # Arabic-Indic digits
    "５",  # fullwidth
    "²",
    "𝟙𝟚",
    "1,5",
    "1.5.5",
    "12,345.6",
    "\x00",
    "a\x00b",
    "1\x00",
    "\x01\x02\x1b[31m",
    "\r\n",
    "x\r\nBcc: evil@example.org",
    "\u202eevil\u202c",
    "\u200b",
    "\ufeff",
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "' OR 1=1 --",
    "9999-12-31",
    "0001-01-01",
    "0000-00-00",
    "10000-01-01",
    "2027-02-30",
    "-2027-01-01",
    "1970-01-01",
    "25:61",
    "23:59:60",
    "99:99",
    "😀" * 20,
    "x" * LONG,
    "1" * LONG,
    "a@b",
    "@",
    "a" * 250 + "@example.org",
]

_controls = st.characters(min_codepoint=0, max_codepoint=0x1F) | st.sampled_from(
    "\x7f\u0085\u2028\u2029\u202e\u202d\u2066\u200f"
)
hostile = st.one_of(
    st.sampled_from(SAMPLES),
    st.text(max_size=40),
    st.text(_controls, min_size=1, max_size=5),
    st.integers().map(str),
    st.integers(min_value=2**31 - 2, max_value=2**70).map(str),
    st.integers(max_value=-(2**31) + 2, min_value=-(2**70)).map(str),
    st.dates().map(lambda d: d.isoformat()),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
)


# The long run also tries each of these in each field in turn, the other fields real: the
# known kinds of defect, found for sure rather than by chance.
PROBES = ["\x00", str(2**63), str(2**31), "①", "10000-01-01", "x" * LONG, "-1", "\u202e\r\n"]


# What a person would type into an empty field of that name, so that a form for a new row
# passes its other checks and the hostile value reaches the database.
PLAUSIBLE = {
    "name": "Probe Name",
    "email": "probe@example.org",
    "phone": "+48 600 000 000",
    "address": "Probe Street 1",
    "reason": "a reason",
    "notes": "a note",
    "start": "2031-03-01",
    "end": "2031-11-30",
    "weight": "0,75",
    "price": "100,00",
    "step": "0,5",
    "capacity": "20",
    "opens": "16:00",
    "closes": "19:00",
    "shares": "1",
    "password": "a long password",
    "confirm": "a long password",
}


UNIQUE = {"name", "email"}  # made unique per probe: a second "Probe Name" would be refused


def real_value(f: Field, n: int | None = None) -> str:
    if f.value or f.options:
        return f.value or f.options[0]
    value = PLAUSIBLE.get(f.name, "")
    if n is not None and f.name in UNIQUE:
        value = f"probe{n}@example.org" if f.name == "email" else f"{value} {n}"
    return value


def probes(fields: dict[str, Field]) -> list[dict[str, list[str]]]:
    """One submission per (field, probe): that field hostile, every other one real."""
    cases = [(name, value) for name in fields for value in PROBES]
    return [
        {**{k: [real_value(f, n)] for k, f in fields.items()}, name: [value]}
        for n, (name, value) in enumerate(cases)
    ]


def field_values(f: Field) -> st.SearchStrategy[list[str]]:
    """Values for one field: often a real one (so deeper checks are reached), else hostile,
    a real one spoiled by a hostile tail, missing, or sent several times."""
    real = st.sampled_from(f.options or [real_value(f)])
    return st.one_of(
        real.map(lambda v: [v]),
        real.map(lambda v: [v]),
        hostile.map(lambda v: [v]),
        st.tuples(real, hostile).map(lambda p: [p[0] + p[1]]),
        st.just([]),
        st.lists(hostile, min_size=2, max_size=3),
    )


# --- forms read from pages ------------------------------------------------------------------


@dataclass
class Field:
    name: str
    kind: str  # input type, "select" or "textarea"
    value: str = ""
    options: list[str] = field(default_factory=list)


@dataclass
class Form:
    action: str  # path, with its query string
    page: str  # the page it was found on
    fields: dict[str, Field] = field(default_factory=dict)
    multipart: bool = False


class FormParser(HTMLParser):
    """Collect the POST forms of a page with their fields, options and current values."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: Field | None = None
        self._option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form" and a.get("method", "get").lower() == "post":
            parts = urlsplit(urljoin(self.page, a.get("action") or self.page))
            action = parts.path + (f"?{parts.query}" if parts.query else "")
            self._form = Form(action, self.page, multipart="multipart" in a.get("enctype", ""))
            self.forms.append(self._form)
        if self._form is None or "name" not in a and tag != "option":
            return
        if tag == "input":
            kind = a.get("type", "text").lower()
            got = self._form.fields.get(a["name"])
            if got is not None and kind in ("checkbox", "radio"):
                got.options.append(a.get("value", "on"))
            elif kind in ("checkbox", "radio"):
                self._form.fields[a["name"]] = Field(a["name"], kind, "", [a.get("value", "on")])
            else:
                self._form.fields[a["name"]] = Field(a["name"], kind, a.get("value", ""))
        elif tag == "textarea":
            self._form.fields[a["name"]] = Field(a["name"], "textarea")
        elif tag == "select":
            self._select = Field(a["name"], "select")
            self._form.fields[a["name"]] = self._select
        elif tag == "option" and self._select is not None:
            self._select.options.append(a.get("value", ""))
            if "selected" in a:
                self._select.value = a.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def forms_on(page: str, body: bytes) -> list[Form]:
    parser = FormParser(page)
    parser.feed(body.decode("utf-8", "replace"))
    return parser.forms


class MessageParser(HTMLParser):
    """The text of what a page says went wrong: flashed errors, field errors, error pages."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.messages: list[str] = []
        self._depth = 0  # >0 while inside an element that holds an error message
        self._stack: list[bool] = []
        self._text: list[str] = []

    VOID = frozenset({"input", "br", "img", "meta", "link", "hr", "col", "source", "wbr"})

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.VOID:
            return
        classes = set((dict(attrs).get("class") or "").split())
        hit = bool(classes & {"error", "flash-error", "error-page"})
        self._stack.append(hit)
        if hit:
            if self._depth == 0:
                self._text = []
            self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID or not self._stack:
            return
        if self._stack.pop():
            self._depth -= 1
            if self._depth == 0:
                self.messages.append(" ".join("".join(self._text).split()))

    def handle_data(self, data: str) -> None:
        if self._depth:
            self._text.append(data)


def error_messages(body: bytes) -> list[str]:
    parser = MessageParser()
    parser.feed(body.decode("utf-8", "replace"))
    return parser.messages
