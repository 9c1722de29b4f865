"""The member's private calendar feed address, for the share page, mails and the feed."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for

from csa.models import Member


def feed_url(member: Member) -> str:
    """The member's private feed address, absolute, so a calendar app can subscribe to it."""
    if has_request_context():
        return url_for("calendar.feed", token=member.calendar_token, _external=True)
    # Jobs and mails have no request to take the host from: use BASE_URL.
    base = urlsplit(current_app.config["BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme or "http"
    )
    return adapter.build("calendar.feed", {"token": member.calendar_token}, force_external=True)
