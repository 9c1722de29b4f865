"""A real SMTP server on 127.0.0.1 for the mail tests (aiosmtpd in a thread).

Its handler refuses chosen recipients with 550, can be slowed down, and the server can be
stopped and started again on the same port (the mail server is down, then back).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Handler:
    """Keeps every accepted message; refuses the addresses in `refuse` at RCPT TO (550), and
    answers 421 (the server is closing) to those in `shut_down_at`."""

    def __init__(self) -> None:
        self.refuse: set[str] = set()
        self.shut_down_at: set[str] = set()  # answer 421 (closing) to these recipients
        self.delay = 0.0  # seconds to wait before accepting each message
        self.lock = threading.Lock()
        self.messages: list[tuple[list[str], bytes]] = []
        self.greetings = 0  # EHLOs: one per connection

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 - aiosmtpd hook
        session.host_name = hostname
        with self.lock:
            self.greetings += 1
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd hook
        if address in self.shut_down_at:
            return "421 4.3.2 Service shutting down"
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd hook
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), envelope.content))
        return "250 Message accepted for delivery"

    def parsed(self) -> list[EmailMessage]:
        with self.lock:
            return [message_from_bytes(c, policy=policy.default) for _, c in self.messages]

    def per_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(to for rcpts, _ in self.messages for to in rcpts)


class SmtpServer:
    """Start, stop and start again an aiosmtpd server on one port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = Handler()
        self.controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def configure(self, app: Any) -> None:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=self.port, MAIL_TIMEOUT=5)
