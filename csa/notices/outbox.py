"""Delivering the outbox: claim one due message, send it, commit its outcome, next.

Run by the scheduler (csa/jobs.py, every tick after the lock step), by
`flask --app app csa deliver`, and by the invitation page right after its commit. Never call
`deliver` inside a business transaction: it commits after every message.

Why one message per commit: a crash re-sends at most the one message in flight (it keeps its
claim until `OUTBOX_LEASE_SECONDS` lapse, then the next loop sends it again with the same
Message-ID, csa/notices/mail.py), and a refused recipient is recorded on its own row without
rolling back anyone else's. Each outcome is committed together with the next message's
claim (one commit per message, not two); before that commit nothing else is sent, so the
message whose outcome is not yet committed is the one in flight. A claim is one conditional
UPDATE, so two loops (two processes, two schedulers) never send the same message twice; on
PostgreSQL the pick skips rows another loop has locked.

What happens to a message:
- sent: `state='sent'`, `sent_at`, the sealed text and headers erased;
- the server refuses it (a reply for this recipient or this message, 4xx or 5xx): the reply
  and the attempt are recorded and it is tried again after `OUTBOX_BACKOFF_SECONDS`; after
  `OUTBOX_MAX_ATTEMPTS` it is `failed` and coordinators see it with the reply;
- the server is down (refused connection, timeout, disconnect, 421): the batch stops, the
  message goes back to the queue without counting an attempt, the next run tries again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import smtplib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Protocol

from cryptography.fernet import InvalidToken
from flask import current_app
from sqlalchemy import Update, and_, exists, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from csa.core.clock import utcnow
from csa.extensions import db
from csa.models import OutboxMessage, OutboxState
from csa.notices.mail import build_message, unseal

log = logging.getLogger(__name__)

REPLY_MAX = 1000  # enough of a server's reply to act on


class ServerDown(Exception):
    """The mail server cannot take anything now: stop the batch, try later."""


class Refused(Exception):
    """The server refused this one message (its reply is the text): retry it later."""


class Undeliverable(Exception):
    """This message can never be sent as it is (e.g. its sealed text cannot be read)."""


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0  # refused now, tried again after a pause
    failed: int = 0  # given up on, shown to coordinators
    stopped: str = ""  # why the batch stopped early (the server is down), or ""

    def __str__(self) -> str:
        text = f"sent: {self.sent}, to retry: {self.retrying}, failed: {self.failed}"
        return f"{text}; stopped: {self.stopped}" if self.stopped else text


class Transport(Protocol):
    name: str

    def send(self, row: OutboxMessage, msg: EmailMessage) -> None: ...

    def close(self) -> None: ...


class SmtpTransport:
    """One SMTP connection for the whole batch, opened on the first message."""

    name = "smtp"

    def __init__(self, config: Any, timeout: float) -> None:
        self.config = config
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        smtp = smtplib.SMTP(cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), timeout=self.timeout)
        try:
            if cfg["MAIL_USE_TLS"]:
                smtp.starttls()
            if cfg["MAIL_USERNAME"]:
                smtp.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"])
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, row: OutboxMessage, msg: EmailMessage) -> None:
        try:
            if self.smtp is None:
                self.smtp = self._connect()
            self.smtp.send_message(msg, to_addrs=[row.to])
        except smtplib.SMTPRecipientsRefused as exc:
            if any(code == 421 for code, _text in exc.recipients.values()):
                self._drop()  # smtplib closed the connection: the server is going away
                raise ServerDown(_replies(exc.recipients)) from exc
            raise Refused(_replies(exc.recipients)) from exc
        except smtplib.SMTPResponseException as exc:
            reply = _reply(exc.smtp_code, exc.smtp_error)
            if exc.smtp_code == 421 or isinstance(exc, smtplib.SMTPAuthenticationError):
                self._drop()
                raise ServerDown(reply) from exc  # closing, or our login: not this message
            raise Refused(reply) from exc  # MAIL FROM or DATA refused for this message
        except (smtplib.SMTPException, OSError) as exc:
            # Disconnected, connection refused, timeout, no STARTTLS: the server, not the
            # message (smtplib.SMTPException is an OSError, so this comes last).
            self._drop()
            raise ServerDown(str(exc) or type(exc).__name__) from exc

    def _drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
            self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self.smtp.quit()
            self._drop()


class FileTransport:
    """Without MAIL_SERVER: one .eml file per message in OUTBOX_DIR.

    The name comes from the row, and the file is written whole then renamed, so a message
    written again after a crash replaces its first copy.
    """

    name = "file"

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def send(self, row: OutboxMessage, msg: EmailMessage) -> None:
        safe_key = re.sub(r"[^A-Za-z0-9_-]+", "_", row.key)[:60]
        path = self.folder / f"{row.id:06d}-{safe_key}.eml"
        part = path.with_suffix(".part")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            part.write_bytes(bytes(msg))
            os.replace(part, path)
        except OSError as exc:
            raise ServerDown(str(exc)) from exc

    def close(self) -> None:
        pass


def _reply(code: int, text: bytes | str) -> str:
    detail = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    return f"{code} {detail}".strip()[:REPLY_MAX]


def _replies(recipients: dict[str, tuple[int, bytes]]) -> str:
    return "; ".join(_reply(code, text) for code, text in recipients.values())[:REPLY_MAX]


def transport(timeout: float | None = None) -> Transport:
    """SMTP when MAIL_SERVER is set, else .eml files: both go through the same loop."""
    cfg = current_app.config
    if cfg["MAIL_SERVER"]:
        return SmtpTransport(cfg, timeout if timeout is not None else cfg["MAIL_TIMEOUT"])
    return FileTransport(cfg["OUTBOX_DIR"])


def _due(now: datetime) -> ColumnElement[bool]:
    """Queued and due, or claimed by a loop whose claim lapsed (it died mid-message)."""
    return or_(
        and_(OutboxMessage.state == OutboxState.QUEUED, OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.state == OutboxState.SENDING, OutboxMessage.claimed_until < now),
    )


def _pick(now: datetime, keys: Sequence[str] | None, postgres: bool) -> Any:
    """The id of the next due message: a lapsed claim first, else the longest waiting.

    Two picks rather than one OR, so each walks ix_outbox_message_due in order and stops at
    its first row instead of sorting every due row on every claim.
    """
    lapsed = select(OutboxMessage.id).where(
        OutboxMessage.state == OutboxState.SENDING, OutboxMessage.claimed_until < now
    )
    queued = select(OutboxMessage.id).where(
        OutboxMessage.state == OutboxState.QUEUED, OutboxMessage.next_attempt_at <= now
    )
    if keys is not None:
        lapsed = lapsed.where(OutboxMessage.key.in_(keys))
        queued = queued.where(OutboxMessage.key.in_(keys))
    lapsed = lapsed.order_by(OutboxMessage.claimed_until, OutboxMessage.id).limit(1)
    queued = queued.order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(1)
    if postgres:
        lapsed = lapsed.with_for_update(skip_locked=True)
        queued = queued.with_for_update(skip_locked=True)
    return func.coalesce(lapsed.scalar_subquery(), queued.scalar_subquery())


def claim_next(
    keys: Sequence[str] | None = None, outcome: Update | None = None
) -> OutboxMessage | None:
    """Claim the next due message with one conditional UPDATE and commit the claim.

    Of two loops racing for a row, the second UPDATE finds it no longer due and changes
    nothing; that loop then tries the next row.

    :param outcome: the previous message's outcome, committed with this claim: one commit
        per message instead of two. Until then that message counts as in flight.
    """
    lease = timedelta(seconds=int(current_app.config["OUTBOX_LEASE_SECONDS"]))
    postgres = db.engine.dialect.name == "postgresql"
    while True:
        if outcome is not None:
            db.session.execute(outcome)
            outcome = None
        now = utcnow()
        claimed = db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == _pick(now, keys, postgres), _due(now))
            .values(
                state=OutboxState.SENDING,
                claim=uuid.uuid4().hex,
                claimed_until=now + lease,
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        ).scalar_one_or_none()
        db.session.commit()
        if claimed is not None:
            return db.session.get(OutboxMessage, claimed, populate_existing=True)
        waiting = exists().where(_due(now))
        if keys is not None:
            waiting = waiting.where(OutboxMessage.key.in_(keys))
        more = db.session.scalar(select(waiting))
        db.session.commit()
        if not more:
            return None


def _outcome(row: OutboxMessage, claim: str, **values: Any) -> Update:
    """The UPDATE that records a message's outcome, if the claim is still ours."""
    return (
        update(OutboxMessage)
        .where(OutboxMessage.id == row.id, OutboxMessage.claim == claim)
        .values(claim="", claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )


def _settle(outcome: Update) -> None:
    """Record an outcome now, in a transaction of its own."""
    db.session.rollback()  # nothing of a failed claim may ride along
    db.session.execute(outcome)
    db.session.commit()


def _backoff(attempts: int) -> timedelta:
    steps = [int(s) for s in current_app.config["OUTBOX_BACKOFF_SECONDS"]]
    return timedelta(seconds=steps[min(attempts, len(steps)) - 1])


def deliver(
    *,
    keys: Sequence[str] | None = None,
    limit: int | None = None,
    timeout: float | None = None,
) -> DeliveryReport:
    """Deliver due messages one at a time until none is due, the limit, or the server is down.

    :param keys: only these messages (the invitation page delivers its own right away).
    :param timeout: seconds to wait for the SMTP server (default MAIL_TIMEOUT).
    """
    report = DeliveryReport()
    max_attempts = int(current_app.config["OUTBOX_MAX_ATTEMPTS"])
    via = transport(timeout)
    pending: Update | None = None  # the last message's outcome, committed with the next claim
    try:
        while limit is None or report.sent + report.retrying + report.failed < limit:
            row = claim_next(keys, pending)
            pending = None
            if row is None:
                break
            claim = row.claim
            try:
                if row.attempts > max_attempts + 1:
                    # Claimed again and again without an outcome: each try killed its loop.
                    raise Undeliverable("every attempt ended without an answer")
                body = _body(row)
                try:
                    msg = build_message(row, body)
                except (ValueError, TypeError) as exc:
                    raise Undeliverable(f"the message cannot be built: {exc}") from exc
                via.send(row, msg)
            except ServerDown as exc:
                pending = _outcome(
                    row,
                    claim,
                    state=OutboxState.QUEUED,
                    attempts=OutboxMessage.attempts - 1,  # not this message's fault
                    next_attempt_at=utcnow()
                    + timedelta(seconds=int(current_app.config["OUTBOX_DOWN_RETRY_SECONDS"])),
                    last_error=str(exc)[:REPLY_MAX],
                )
                report.stopped = str(exc)[:REPLY_MAX]
                log.warning("mail server unavailable, delivery stopped: %s", exc)
                break
            except (Refused, Undeliverable) as exc:
                reply = str(exc)[:REPLY_MAX]
                if isinstance(exc, Undeliverable) or row.attempts >= max_attempts:
                    pending = _outcome(
                        row,
                        claim,
                        state=OutboxState.FAILED,
                        sealed=None,
                        sealed_headers=None,
                        last_error=reply,
                    )
                    report.failed += 1
                    log.warning("mail %s to %s failed for good: %s", row.key, row.to, reply)
                else:
                    pending = _outcome(
                        row,
                        claim,
                        state=OutboxState.QUEUED,
                        next_attempt_at=utcnow() + _backoff(row.attempts),
                        last_error=reply,
                    )
                    report.retrying += 1
                    log.info("mail %s to %s refused, retried later: %s", row.key, row.to, reply)
            else:
                pending = _outcome(
                    row,
                    claim,
                    state=OutboxState.SENT,
                    sent_at=utcnow(),
                    sealed=None,
                    sealed_headers=None,
                    transport=via.name,
                    last_error="",
                )
                report.sent += 1
    finally:
        if pending is not None:
            _settle(pending)
        via.close()
    if report.sent or report.retrying or report.failed or report.stopped:
        log.info("outbox: %s", report)
    return report


def _body(row: OutboxMessage) -> str:
    if row.sealed is None:
        return row.body
    try:
        return unseal(row.sealed)
    except InvalidToken as exc:
        raise Undeliverable("the sealed text cannot be read (was SECRET_KEY changed?)") from exc


def counts() -> dict[OutboxState, int]:
    """How many messages are in each state, for the Sent messages page."""
    rows = db.session.execute(
        select(OutboxMessage.state, func.count()).group_by(OutboxMessage.state)
    ).all()
    return {OutboxState(state): int(n) for state, n in rows}
