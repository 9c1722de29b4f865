"""Time helpers: the database stores naive UTC; people see the farm's time zone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    """Return the current time as naive UTC, the form every DateTime column stores."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_local(moment: datetime, tz: str) -> datetime:
    """Convert a naive UTC datetime to the farm's zone for display."""
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(tz))


def local_to_utc(moment: datetime, tz: str) -> datetime:
    """Interpret a naive local datetime in the farm's zone and return naive UTC."""
    return moment.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC).replace(tzinfo=None)
