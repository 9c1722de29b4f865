"""The navigation bar, derived from the access rules so each role sees only what it may use."""

from __future__ import annotations

from flask import Flask, current_app, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from csa.ui.access import rule_for
from csa.ui.community import member_pages, staff_pages

# Order is the order on screen; entries whose blueprint is not registered are skipped.
# Pages that only make sense for an account tied to a household (admin may open them too,
# but without a household they show nothing).
HOUSEHOLD_ONLY = frozenset({"share.mine"})
# Blueprints without a navigation item of their own, shown under another one's section.
SECTION_OF = {
    "sheets": "rounds",
    **dict.fromkeys(("bidding", "invoices", "payments", "reminders", "sepa"), "money"),
    **dict.fromkeys(("messages", "partners", "offers", "work", "donations"), "community"),
}
# Items that only lead somewhere when one of their pages is there (the Community desk, whose
# pages are the community features' blueprints).
NEEDS_PAGES = {"community.index": staff_pages}
ITEMS = [
    ("share.mine", _l("My share")),
    ("harvest.record", _l("Record harvest")),
    ("rounds.index", _l("Rounds")),
    ("calendar.index", _l("Calendar")),
    ("register.memberships", _l("Register")),
    ("signup.requests", _l("Sign-ups")),
    ("money.index", _l("Money")),
    ("community.index", _l("Community")),
    ("setup.index", _l("Farm setup")),
    ("auth.users", _l("Users")),
]


def nav_items() -> list[tuple[str, str]]:
    """The pages the signed-in user may open, as (endpoint, label), from the access rules."""
    if not current_user.is_authenticated:
        return []
    items = []
    for endpoint, label in ITEMS:
        if endpoint not in current_app.view_functions:
            continue
        if endpoint in HOUSEHOLD_ONLY and current_user.member_id is None:
            continue
        if endpoint in NEEDS_PAGES and not NEEDS_PAGES[endpoint]():
            continue
        rule = rule_for(current_app, endpoint)
        if rule is not None and current_user.role in rule:
            items.append((endpoint, str(label)))
    return items


def nav_current(items: list[tuple[str, str]]) -> str | None:
    """The item to mark as the current page: the page itself, or the only item of its section.

    A round's page marks "Rounds"; a register sub-page marks nothing rather than guessing
    between the register's items.
    """
    endpoint = request.endpoint or ""
    if any(e == endpoint for e, _label in items):
        return endpoint
    section = endpoint.partition(".")[0]
    section = SECTION_OF.get(section, section)
    same = [e for e, _label in items if e.partition(".")[0] == section]
    return same[0] if len(same) == 1 else None


def register_navigation(app: Flask) -> None:
    # view_functions: a section bar leaves out the pages of parts that are not registered.
    app.jinja_env.globals.update(
        nav_items=nav_items,
        nav_current=nav_current,
        view_functions=app.view_functions,
        community_member_pages=member_pages,
        community_staff_pages=staff_pages,
    )
