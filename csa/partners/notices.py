"""E-mail of the share partners: a household is told when it starts or stops sharing a
membership, when a partner offers it a swap, and when its offer is answered. Queued in
the outbox in the business transaction (csa/notices/mail.py), one row per recipient, each
in its own language; the key names the row the event wrote, so a retry queues nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from csa.models import Member, Membership, PartnerSwap, PartnerSwapState
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed


def page_url() -> str:
    return current_app.config["BASE_URL"].rstrip("/") + "/partners/mine"


def _tell(member: Member, key: str, subject: Callable[[], str], **context: Any) -> int:
    sent = 0
    for to in household_recipients(member):
        with force_locale(to.locale):
            text = subject()
            body = render_template(
                "mail/partners.txt", member=member, page_url=page_url(), **context
            )
        if mail.send(keyed(key, to), to.email, text, body):
            sent += 1
    return sent


def notify_linked(membership: Membership, partner: Member, partner_row_id: int) -> int:
    """Tell the partner household that it shares the membership from now on."""
    return _tell(
        partner,
        f"partners/linked/{partner_row_id}",
        lambda: _("You share a membership with %(name)s", name=membership.member.name),
        event="linked",
        owner=membership.member,
    )


def notify_offered(swap: PartnerSwap) -> int:
    """Tell the household a swap is offered to."""
    return _tell(
        swap.with_member,
        f"partners/swap/{swap.id}/offered",
        lambda: _("%(name)s offers you a swap of rounds", name=swap.by_member.name),
        event="offered",
        swap=swap,
    )


def notify_answered(swap: PartnerSwap) -> int:
    """Tell the household that offered a swap what the other answered (not a withdrawal)."""
    if swap.state not in (PartnerSwapState.ACCEPTED, PartnerSwapState.DECLINED):
        return 0
    return _tell(
        swap.by_member,
        f"partners/swap/{swap.id}/{swap.state.value}",
        lambda: (
            _("%(name)s accepted your swap", name=swap.with_member.name)
            if swap.state == PartnerSwapState.ACCEPTED
            else _("%(name)s declined your swap", name=swap.with_member.name)
        ),
        event=swap.state.value,
        swap=swap,
    )
