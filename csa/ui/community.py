"""The pages of the Community sections (csa/community), in the order of their tabs: shared by
the navigation, the section bars and the community features' own pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from csa.ui.access import may_open

# (endpoint, key, label): a member's pages, then the farm's. A page whose blueprint is not
# registered is left out, so the bars never link to a 404.
MEMBER_PAGES = [
    ("messages.inbox", "messages", _l("Messages")),
    ("partners.mine", "partners", _l("Share partners")),
    ("offers.board", "offers", _l("Offers and swaps")),
    ("work.mine", "work", _l("Work days")),
    ("donations.season", "donations", _l("Donations")),
]
STAFF_PAGES = [
    ("messages.index", "messages", _l("Messages")),
    ("partners.index", "partners", _l("Share partners")),
    ("offers.index", "offers", _l("Offers and swaps")),
    ("work.index", "work", _l("Work days")),
    ("donations.index", "donations", _l("Food sharing")),
]


def _open_to_user(pages: list[tuple[str, str, object]]) -> list[tuple[str, str, str]]:
    return [(endpoint, key, str(label)) for endpoint, key, label in pages if may_open(endpoint)]


def member_pages() -> list[tuple[str, str, str]]:
    """The Community pages of a member's area the user may open, as (endpoint, key, label)."""
    return _open_to_user(MEMBER_PAGES)


def staff_pages() -> list[tuple[str, str, str]]:
    """The Community desk's pages the user may open (farmers see fewer than coordinators)."""
    return _open_to_user(STAFF_PAGES)
