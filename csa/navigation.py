"""The navigation bar, derived from the access rules so each role sees only what it may use."""

from __future__ import annotations

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from csa.access import rule_for

# Order is the order on screen; entries whose blueprint is not registered are skipped.
ITEMS = [
    ("share.mine", _l("My share")),
    ("harvest.record", _l("Record harvest")),
    ("rounds.index", _l("Rounds")),
    ("calendar.index", _l("Calendar")),
    ("register.memberships", _l("Register")),
    ("register.settings", _l("Farm setup")),
    ("register.users", _l("Users")),
]


def nav_items() -> list[tuple[str, str]]:
    if not current_user.is_authenticated:
        return []
    items = []
    for endpoint, label in ITEMS:
        if endpoint not in current_app.view_functions:
            continue
        rule = rule_for(current_app, endpoint)
        if rule is not None and current_user.role in rule:
            items.append((endpoint, str(label)))
    return items


def register_navigation(app: Flask) -> None:
    app.jinja_env.globals["nav_items"] = nav_items
