"""Documents attached to outbox messages, rendered when the message is built for sending.

The outbox stores text only; a row names its attachment as "kind:id" (`OutboxMessage.
attachment`, e.g. "invoice:42"), and the feature that owns the kind registers a renderer
for it here (csa/invoices registers "invoice"). Rendering at send time is safe only for
documents that never change once made, as an issued invoice: the mail then carries what
was issued, however late it is sent, and the outbox holds no copy of the PDF.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    maintype: str  # "application"
    subtype: str  # "pdf"
    data: bytes


Renderer = Callable[[int], Attachment]
_renderers: dict[str, Renderer] = {}


class AttachmentMissing(ValueError):
    """The attachment cannot be made: an unknown kind, or its document is gone."""


def register(kind: str, renderer: Renderer) -> None:
    """Let messages name "kind:<id>" attachments; `renderer(id)` makes the file."""
    _renderers[kind] = renderer


def reference(kind: str, ident: int) -> str:
    """What a row stores to name one document: "invoice:42"."""
    return f"{kind}:{int(ident)}"


def render(name: str) -> Attachment:
    """The file a row's attachment names; AttachmentMissing if it cannot be made."""
    kind, _sep, ident = name.partition(":")
    renderer = _renderers.get(kind)
    if renderer is None or not ident.isdigit():
        raise AttachmentMissing(f"no attachment {name!r}")
    return renderer(int(ident))
