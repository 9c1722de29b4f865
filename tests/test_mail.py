"""E-mail through a real SMTP server on localhost (aiosmtpd), and the .eml fallback."""

from __future__ import annotations

import socket
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from csa.models import OutboxMessage
from csa.notices import mail


class Collector:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server():
    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, collector
    controller.stop()


def test_send_through_smtp_once_per_key(app, db, smtp_server):
    controller, collector = smtp_server
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=controller.port)
    row = mail.send("k/1", "zofia@example.org", "Your share", "Tomatoes: 1,5 kg – Żółć")
    db.session.commit()
    assert row is not None
    assert row.transport == "smtp"
    assert mail.send("k/1", "zofia@example.org", "Your share", "again") is None
    assert len(collector.messages) == 1
    sender, recipients, content = collector.messages[0]
    assert recipients == ["zofia@example.org"]
    parsed = message_from_bytes(content)
    assert parsed["Subject"] == "Your share"
    assert "Żółć" in parsed.get_payload(decode=True).decode()


def test_without_smtp_messages_go_to_outbox_files(app, db):
    row = mail.send("k/2", "piotr@example.org", "Hello", "Body")
    db.session.commit()
    assert row.transport == "file"
    files = list(Path(app.config["OUTBOX_DIR"]).glob("*.eml"))
    assert len(files) == 1
    assert "piotr@example.org" in files[0].read_text()
    assert db.session.scalar(select(OutboxMessage.key)) == "k/2"
