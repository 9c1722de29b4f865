"""Events other features add to a household's private calendar feed: the work jobs it
signed up for (csa/work), and whatever a later feature adds.

A feature registers a provider on the app (`add_feed_events`, from its blueprint's
`record_once`); the feed (csa/calendar/views.py) asks every one once. What a feature says
about a pickup itself (who of the share partners collects, an offered share) reaches the
pickup's event through the round notes of *My share* (csa/share/notes.py) instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import Flask, current_app

from csa.calendar.ical import Event
from csa.models import Member

EXTENSION = "csa.feed_events"

FeedEvents = Callable[[Member, date], list[Event]]


def add_feed_events(app: Flask, provider: FeedEvents) -> None:
    """Register a feature's events (once per app: `bp.record_once`)."""
    app.extensions.setdefault(EXTENSION, []).append(provider)


def feed_events(member: Member, today: date) -> list[Event]:
    """Every registered feature's events for this household, from `today` on."""
    events: list[Event] = []
    for provider in current_app.extensions.get(EXTENSION, []):
        events.extend(provider(member, today))
    return events
