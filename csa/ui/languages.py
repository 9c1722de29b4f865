"""The languages a person can pick, each named in its own words, and the switch on every page.

Which language wins where (the README says it for farms):
- the site, after sign-in: the login's own choice; until its person picks one, the browser's;
- the site, before sign-in: the language picked with the switch (kept in the session cookie),
  else the browser's; the choice is kept on the login at its first sign-in;
- mails to a login (links, password notices): the login's choice, else its household's;
- mails to a household (round notices): the household's language, which follows the choice
  of the household's contact login.
"""

from __future__ import annotations

import functools

from babel import Locale
from flask import Flask, current_app, session


def language_choices(current: str = "") -> list[tuple[str, str]]:
    """(code, name) of each language, named in itself ("Polski"), so anyone finds their own.

    :param current: a code stored before (an import, an older setup) kept in the list.
    """
    codes = list(current_app.config["LANGUAGES"])
    if current and current not in codes:
        codes.append(current)
    return [(code, _name(code)) for code in codes]


@functools.cache
def _name(code: str) -> str:
    try:
        return str(Locale.parse(code).display_name or code).capitalize()
    except (ValueError, LookupError):
        return code


def remember_choice(code: str) -> None:
    """Keep a language picked before signing in, for this browser."""
    session["locale"] = code


def picked_before_sign_in() -> str:
    """The language picked with the switch before signing in, or ""."""
    code = session.get("locale")
    return str(code) if code in current_app.config["LANGUAGES"] else ""


def register_language_switch(app: Flask) -> None:
    """Give every template the languages the switch in base.html offers."""
    app.jinja_env.globals.update(language_choices=language_choices)
