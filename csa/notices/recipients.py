"""Who reads a household's notices, and in which language.

Every notice to a household goes through `household_recipients`, so the rule of who is
told lives in one place. Each recipient carries a `key`, appended to the notice's
idempotency key so a job that runs twice sends each person one message.
"""

from __future__ import annotations

from dataclasses import dataclass

from csa.models import Member


@dataclass(frozen=True, slots=True)
class Recipient:
    email: str
    locale: str
    key: str  # "" for the household's own address, else something unique per login


def household_recipients(member: Member) -> list[Recipient]:
    """The addresses a household's notices go to: today, the household's own address."""
    return [Recipient(member.email, member.locale, "")]


def keyed(base: str, recipient: Recipient) -> str:
    """The idempotency key of one notice to one recipient."""
    return f"{base}/{recipient.key}" if recipient.key else base
