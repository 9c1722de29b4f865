"""The words for each status and mode, named once for every page, sheet and mail."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from csa.models import HoldMode, MembershipStatus, OfferState, OutboxState, RoundStatus

ROUND_STATUS_LABELS = {
    RoundStatus.OPEN: _l("open"),
    RoundStatus.LOCKED: _l("locked"),
    RoundStatus.DISTRIBUTED: _l("distributed"),
    RoundStatus.CANCELLED: _l("cancelled"),
}
MEMBERSHIP_STATUS_LABELS = {
    MembershipStatus.ACTIVE: _l("active"),
    MembershipStatus.PAUSED: _l("paused"),
    MembershipStatus.ENDED: _l("ended"),
    MembershipStatus.WAITING: _l("waiting"),
}
HOLD_LABELS = {
    HoldMode.DONATE: _l("Donate my share"),
    HoldMode.OTHERS: _l("Give it to the other members"),
}
OUTBOX_STATE_LABELS = {
    OutboxState.QUEUED: _l("waiting to be sent"),
    OutboxState.SENDING: _l("being sent"),
    OutboxState.SENT: _l("sent"),
    OutboxState.FAILED: _l("failed"),
}
OFFER_STATE_LABELS = {
    OfferState.OPEN: _l("open"),
    OfferState.ACCEPTED: _l("accepted"),
    OfferState.DECLINED: _l("declined"),
    OfferState.EXPIRED: _l("expired"),
    OfferState.WITHDRAWN: _l("withdrawn"),
}
