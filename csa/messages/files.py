"""A message's attachment: checked by its first bytes, kept privately, attached to each mail.

Only PDF, PNG and JPEG are taken, recognised by their magic bytes (the browser's type and
the file name's ending are the sender's word, not the file's), and only up to
MESSAGE_ATTACHMENT_MAX_BYTES. The file is kept under MESSAGE_FILES_DIR (by default
`message_files` beside the outbox folder in instance/, 0600 like every file the app
writes), never under static/: members read it through the mail, staff through the sent
list. The outbox names it "message:<id>" and reads it when each mail is built
(csa/notices/attachments.py), so a thousand recipients share one copy.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from csa.errors import FieldError
from csa.extensions import db
from csa.models import Message
from csa.notices import attachments

KIND = "message"
DEFAULT_MAX_BYTES = 2 * 1024 * 1024
# (magic bytes, MIME type, the ending a kept name gets)
MAGIC = (
    (b"%PDF-", "application/pdf", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
)
SAFE_NAME = re.compile(r"[^\w.-]+")


@dataclass(frozen=True)
class Upload:
    name: str  # what the mail calls it: the sender's name, cleaned, with the right ending
    mime: str
    data: bytes


def folder() -> Path:
    configured = current_app.config.get("MESSAGE_FILES_DIR")
    if configured:
        return Path(configured)
    return Path(current_app.config["OUTBOX_DIR"]).parent / "message_files"


def max_bytes() -> int:
    return int(current_app.config.get("MESSAGE_ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def check(filename: str, data: bytes) -> Upload:
    """The upload if it is a PDF, PNG or JPEG within the size limit; FieldError otherwise."""
    limit = max_bytes()
    if not data:
        raise FieldError("attachment", _("The attached file is empty."))
    if len(data) > limit:
        raise FieldError(
            "attachment",
            _("The attached file is larger than %(size)s MB.", size=f"{limit / 1_048_576:g}"),
        )
    found = next(((m, e) for magic, m, e in MAGIC if data.startswith(magic)), None)
    if found is None:
        raise FieldError(
            "attachment", _("Attach a PDF, PNG or JPEG file; this file is none of them.")
        )
    mime, ending = found
    stem = SAFE_NAME.sub("_", Path(filename or "attachment").stem).strip("._")[:80]
    return Upload(f"{stem or 'attachment'}{ending}", mime, data)


def store(message: Message, upload: Upload) -> Path:
    """Write the file (whole, then renamed into place) and note it on the message; flushes.

    The caller removes the file again if its transaction does not commit (`discard`).
    """
    target = folder()
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{message.id}-{secrets.token_hex(8)}{Path(upload.name).suffix}"
    path = target / name
    part = path.with_suffix(".part")
    part.write_bytes(upload.data)
    os.replace(part, path)
    message.attachment_path = name
    message.attachment_name = upload.name
    message.attachment_type = upload.mime
    message.attachment_size = len(upload.data)
    db.session.flush()
    return path


def discard(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)


def read(message: Message) -> bytes:
    """The attachment's bytes; FileNotFoundError if it is gone."""
    name = Path(message.attachment_path).name  # never a path out of the folder
    return (folder() / name).read_bytes()


def _render(message_id: int) -> attachments.Attachment:
    message = db.session.get(Message, message_id)
    if message is None or not message.attachment_path:
        raise attachments.AttachmentMissing(f"message {message_id} has no attachment")
    try:
        data = read(message)
    except OSError as exc:
        raise attachments.AttachmentMissing(f"the file of message {message_id} is gone") from exc
    maintype, _sep, subtype = message.attachment_type.partition("/")
    return attachments.Attachment(message.attachment_name, maintype, subtype, data)


def register() -> None:
    """Let outbox rows name "message:<id>" (called once per app from the blueprint)."""
    attachments.register(KIND, _render)
