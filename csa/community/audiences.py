"""Who a coordinator may write to besides the register's own groups: the households that
still owe work hours (csa/work), and whatever a later feature adds.

A feature registers an audience on the app (`add_audience`, from its blueprint's
`record_once`); the message form (csa/messages) offers each one and asks it for the member
ids when it previews or sends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

EXTENSION = "csa.audiences"


@dataclass(frozen=True)
class Audience:
    key: str  # stored with the message: letters, digits and "_"
    label: Callable[[], str]  # in the reader's language, asked when the form is drawn
    members: Callable[[], set[int]]  # the member (household) ids, asked when sending


def add_audience(app: Flask, audience: Audience) -> None:
    """Register a feature's audience (once per app: `bp.record_once`)."""
    app.extensions.setdefault(EXTENSION, {})[audience.key] = audience


def audiences() -> dict[str, Audience]:
    """Every registered audience by key, in the order they were registered."""
    return dict(current_app.extensions.get(EXTENSION, {}))
