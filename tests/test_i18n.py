"""The Polish catalog: complete, placeholders intact, compiled, and actually used.

The catalog lives in csa/translations (`make translations` re-extracts, updates and compiles;
the .mo is committed so a fresh machine needs no build step).
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, time
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import flask_babel
import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask import Flask, render_template

from csa.models import Role

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "csa" / "translations"
PO = TRANSLATIONS / "pl" / "LC_MESSAGES" / "messages.po"
MO = TRANSLATIONS / "pl" / "LC_MESSAGES" / "messages.mo"
PL_PLURALS = "(n==1 ? 0 : n%10>=2 && n%10<=4 && (n%100<10 || n%100>=20) ? 1 : 2)"

# %(name)s / %(num)d / %% (python-format), {0} / {name} (str.format) and HTML tags.
PLACEHOLDER = re.compile(
    r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|%%|\{[^{}\s]*\}|</?[a-zA-Z][^<>]*>"
)


def load_po() -> Catalog:
    with PO.open("rb") as fh:
        return read_po(fh, locale="pl")


def placeholders(text: str) -> Counter[str]:
    return Counter(PLACEHOLDER.findall(text))


def _key(value: Any) -> Any:
    """read_mo gives plurals as lists, read_po as tuples: compare them as tuples."""
    return tuple(value) if isinstance(value, list | tuple) else value


def translated(catalog: Catalog) -> dict[Any, Any]:
    return {_key(m.id): _key(m.string) for m in catalog if m.id}


# --- the catalog itself -----------------------------------------------------------------


def test_polish_plural_forms() -> None:
    catalog = load_po()
    assert catalog.num_plurals == 3
    assert catalog.plural_expr.replace(" ", "") == PL_PLURALS.replace(" ", "")


def test_every_message_is_translated_with_the_same_placeholders() -> None:
    catalog = load_po()
    messages = [m for m in catalog if m.id]
    assert len(messages) > 100, "the Polish catalog looks empty"
    problems = []
    for m in messages:
        where = f"{m.locations[0][0]}:{m.locations[0][1]}" if m.locations else "?"
        if m.fuzzy:
            problems.append(f"{where}: fuzzy: {m.id!r}")
        if m.pluralizable:
            singular, plural = m.id
            forms = m.string if isinstance(m.string, tuple) else ()
            if len(forms) != 3 or not all(f.strip() for f in forms):
                problems.append(f"{where}: needs all 3 Polish plural forms: {m.id!r}")
                continue
            # Form 0 is only ever used for n == 1 in Polish; forms 1 and 2 for the rest.
            expected = [singular, plural, plural]
            for form, source in zip(forms, expected, strict=True):
                if placeholders(form) != placeholders(source):
                    problems.append(f"{where}: placeholders differ: {source!r} -> {form!r}")
        else:
            if not isinstance(m.string, str) or not m.string.strip():
                problems.append(f"{where}: untranslated: {m.id!r}")
            elif placeholders(m.string) != placeholders(m.id):
                problems.append(f"{where}: placeholders differ: {m.id!r} -> {m.string!r}")
    assert not problems, "\n".join(problems)


def test_python_format_strings_still_format() -> None:
    """Every translation formats with the same arguments as its msgid (no stray %)."""
    catalog = load_po()
    for m in catalog:
        if not m.id or not m.python_format:
            continue
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        names = {n for s in ids for n in re.findall(r"%\((\w+)\)", s)}
        args = {n: 1 for n in names}
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for s in strings:
            s % args  # raises on a broken conversion


def test_compiled_catalog_is_up_to_date() -> None:
    """The committed .mo holds exactly what the .po compiles to."""
    catalog = load_po()
    fresh = BytesIO()
    write_mo(fresh, catalog)
    fresh.seek(0)
    compiled = read_mo(fresh)
    with MO.open("rb") as fh:
        committed = read_mo(fh)
    assert translated(committed) == translated(compiled), (
        "messages.mo is stale: run `make translations` (or pybabel compile -d csa/translations)"
    )


def test_every_extracted_string_is_in_the_catalog() -> None:
    """A string wrapped in gettext since the last `make translations` shows up here."""
    method_map = [
        ("csa/**.py", "python"),
        ("templates/**.html", "jinja2"),
        ("templates/**.txt", "jinja2"),
    ]
    # The same keywords as `make translations`: Babel's defaults plus -k _l -k lazy_gettext.
    keywords = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in load_po() if m.id}
    missing = []
    for filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords=keywords
    ):
        msgid = message if isinstance(message, str) else message[0]
        if msgid and msgid not in known:
            missing.append(f"{filename}: {msgid!r}")
    assert not missing, "run `make translations` and translate:\n" + "\n".join(missing)


# --- the catalog in use -----------------------------------------------------------------


def test_polish_user_sees_polish_pages(client: Any, make_user: Any, auth: Any, db: Any) -> None:
    user = make_user(Role.COORDINATOR)
    user.locale = "pl"
    db.session.commit()
    auth.login(user.email)

    page = client.get("/", follow_redirects=True)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<html lang="pl">' in html
    for polish in ("Wydawki", "Kalendarz", "Rejestr", "Wyloguj się", "Przejdź do treści"):
        assert polish in html
    assert "Sign out" not in html
    assert "Skip to content" not in html


def test_english_user_still_sees_english(client: Any, make_user: Any, auth: Any) -> None:
    user = make_user(Role.COORDINATOR)
    auth.login(user.email)
    html = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Sign out" in html
    assert "Wyloguj się" not in html


def test_login_page_follows_the_browser_language(client: Any) -> None:
    html = client.get("/auth/login", headers={"Accept-Language": "pl"}).get_data(as_text=True)
    assert "Zaloguj się" in html
    assert "Hasło" in html


def test_force_locale_translates_mail_strings(app: Flask) -> None:
    with app.test_request_context(), flask_babel.force_locale("pl"):
        text = flask_babel.gettext("This is what is in your share on %(date)s:", date="X")
        assert text == "Oto zawartość Twojego udziału (X):"
        assert flask_babel.gettext("Hello %(name)s,", name="Ala") == "Dzień dobry, Ala!"
        assert flask_babel.ngettext("%(num)d share", "%(num)d shares", 1) == "1 udział"
        assert flask_babel.ngettext("%(num)d share", "%(num)d shares", 3) == "3 udziały"
        assert flask_babel.ngettext("%(num)d share", "%(num)d shares", 5) == "5 udziałów"
        assert flask_babel.ngettext("%(num)d share", "%(num)d shares", 22) == "22 udziały"
        assert flask_babel.ngettext("%(num)d share", "%(num)d shares", 12) == "12 udziałów"
    with app.test_request_context(), flask_babel.force_locale("en"):
        assert flask_babel.gettext("Hello %(name)s,", name="Ala") == "Hello Ala,"


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        ("pl", ["Dzień dobry, Ala!", "Oto zawartość Twojego udziału", "w godzinach 16:00–18:30"]),
        (
            "en",
            [
                "Hello Ala,",
                "This is what is in your share on",
                "between 4:00\u202fPM and 6:30\u202fPM",
            ],
        ),
    ],
)
def test_round_locked_mail_in_the_member_language(
    app: Flask, locale: str, expected: list[str]
) -> None:
    site = SimpleNamespace(
        name="Farm gate", address="Polna 1", opens=time(16, 0), closes=time(18, 30)
    )
    with app.test_request_context(), flask_babel.force_locale(locale):
        body = render_template(
            "mail/round_locked.txt",
            round=SimpleNamespace(date=date(2027, 6, 1)),
            member=SimpleNamespace(name="Ala"),
            membership=SimpleNamespace(site=site),
            lines=[],
            share_url="https://farm.example/share/",
        )
    for text in expected:
        assert text in body
