"""Outgoing e-mail: SMTP when configured, otherwise .eml files in instance/outbox/.

Each message has an idempotency key, so a job that runs twice sends nothing twice.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from csa.core.clock import utcnow
from csa.extensions import db
from csa.models import OutboxMessage

log = logging.getLogger(__name__)


def build_message(to: str, subject: str, body: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_SENDER"]
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="csa.local")
    msg.set_content(body)
    return msg


def send(key: str, to: str, subject: str, body: str) -> OutboxMessage | None:
    """Send once per key; return the outbox row, or None if that key was sent before."""
    if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)):
        return None
    row = OutboxMessage(key=key, to=to, subject=subject, body=body)
    db.session.add(row)
    db.session.flush()
    msg = build_message(to, subject, body)
    cfg = current_app.config
    if cfg["MAIL_SERVER"]:
        with smtplib.SMTP(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), timeout=30) as smtp:
            if cfg["MAIL_USE_TLS"]:
                smtp.starttls()
            if cfg["MAIL_USERNAME"]:
                smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
            smtp.send_message(msg)
        row.transport = "smtp"
    else:
        outbox = Path(cfg["OUTBOX_DIR"])
        outbox.mkdir(parents=True, exist_ok=True)
        (outbox / f"{row.id:06d}-{key.replace('/', '_')[:60]}.eml").write_bytes(bytes(msg))
        row.transport = "file"
    row.sent_at = utcnow()
    log.info("mail %s to %s via %s", key, to, row.transport)
    return row
