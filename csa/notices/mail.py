"""Queueing e-mail: one outbox row per recipient, written in the business transaction.

Nothing here touches the network. `send` only adds a row (once per idempotency key) and
flushes; csa/notices/outbox.py delivers the rows after the commit, one at a time, so a
refused recipient or a crash can never roll back a message that already left, and never
makes the others wait.

Links that grant access (an invitation's set-password link) are never stored readable: the
row keeps a body with them replaced for the Sent messages page, and the text to deliver is
kept sealed (Fernet, with a key derived from SECRET_KEY) until it is sent, then erased.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from csa.core.clock import utcnow
from csa.extensions import db
from csa.models import OutboxMessage, OutboxState
from csa.notices import attachments

log = logging.getLogger(__name__)

SEAL_INFO = b"csa outbox seal v1"
MESSAGE_ID_INFO = b"csa message-id v1:"
SUBJECT_MAX = 300  # OutboxMessage.subject's width
# C0 and C1 controls (CR and LF among them) and the Unicode line and paragraph separators:
# none of them may reach a header, whatever a site or farm name holds.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
DOMAIN = re.compile(r"^[A-Za-z0-9.-]+$")


def header_text(value: str) -> str:
    """Return text safe for a header: every run of controls and spaces becomes one space."""
    return " ".join(CONTROLS.sub(" ", value).split())


def _fernet() -> Fernet:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEAL_INFO).derive(secret)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(text: str) -> str:
    """Encrypt text for the outbox; only a process with the same SECRET_KEY can read it."""
    return _fernet().encrypt(text.encode()).decode("ascii")


def unseal(token: str) -> str:
    """Decrypt what `seal` made; raises cryptography.fernet.InvalidToken otherwise."""
    return _fernet().decrypt(token.encode("ascii")).decode()


def redacted(body: str, secrets: Sequence[str]) -> str:
    """Replace each secret substring (longest first, so no part of one survives)."""
    marker = _("[link removed]")
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        body = body.replace(secret, marker)
    return body


def send(
    key: str,
    to: str,
    subject: str,
    body: str,
    *,
    redact: Sequence[str] = (),
    admin_only: bool = False,
    attachment: str | None = None,
    reply_to: str | None = None,
    sealed_headers: dict[str, str] | None = None,
) -> OutboxMessage | None:
    """Queue one message per key; return its row, or None if that key was queued before.

    :param redact: substrings that grant access (links): the stored body shows a marker in
        their place, the real text is kept only sealed until delivered.
    :param admin_only: only admins see the row on the Sent messages page (staff logins'
        invitations).
    :param attachment: a document to attach when the message is sent, "kind:id"
        (csa/notices/attachments.py), such as an issued invoice's PDF.
    :param reply_to: the Reply-To address (a staff member's message).
    :param sealed_headers: extra headers holding a link that grants access (List-Unsubscribe):
        stored only sealed, put on the message when it is built, erased once it is sent.
    """
    if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)):
        return None
    secrets = [s for s in redact if s]
    row = OutboxMessage(
        key=key,
        to=header_text(to),
        subject=header_text(subject)[:SUBJECT_MAX],
        body=redacted(body, secrets) if secrets else body,
        sealed=seal(body) if secrets else None,
        admin_only=admin_only,
        attachment=attachment,
        reply_to=header_text(reply_to) if reply_to else None,
        sealed_headers=seal(json.dumps(sealed_headers)) if sealed_headers else None,
        state=OutboxState.QUEUED,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.flush()
    log.info("mail %s to %s queued", key, row.to)
    return row


def message_id(key: str) -> str:
    """A Message-ID that depends only on the row's key (and this farm's secret).

    A message re-sent after a crash carries the same id, so receivers can drop the copy; the
    secret keeps two farms' equal keys ("locked/5/12") from sharing an id.
    """
    secret = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(secret, MESSAGE_ID_INFO + key.encode(), hashlib.sha256).hexdigest()
    domain = str(current_app.config["MAIL_SENDER"]).rpartition("@")[2]
    if not DOMAIN.match(domain):
        domain = "csa.local"
    return f"<{digest[:32]}@{domain}>"


def build_message(row: OutboxMessage, body: str) -> EmailMessage:
    """The message for one outbox row; headers get no controls whatever the row holds."""
    msg = EmailMessage()
    msg["From"] = header_text(str(current_app.config["MAIL_SENDER"]))
    msg["To"] = header_text(row.to)
    msg["Subject"] = header_text(row.subject)
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id(row.key)
    if row.reply_to:
        msg["Reply-To"] = header_text(row.reply_to)
    for name, value in extra_headers(row).items():
        msg[header_text(name)] = header_text(value)
    msg.set_content(body)
    if row.attachment:
        # Raises AttachmentMissing (a ValueError): the delivery loop fails that message alone.
        doc = attachments.render(row.attachment)
        msg.add_attachment(
            doc.data, maintype=doc.maintype, subtype=doc.subtype, filename=doc.filename
        )
    return msg


def extra_headers(row: OutboxMessage) -> dict[str, str]:
    """The sealed extra headers of a row; a ValueError if they cannot be read (the delivery
    loop then fails that message alone)."""
    if not row.sealed_headers:
        return {}
    try:
        found = json.loads(unseal(row.sealed_headers))
    except (InvalidToken, ValueError) as exc:
        raise ValueError("the sealed headers cannot be read") from exc
    return {str(k): str(v) for k, v in found.items()}
