"""Who may use which view. Every view declares its roles; a view without a rule is refused.

The check runs in one `before_request` hook so a new route cannot forget it: the access
test walks the URL map and fails on any endpoint without a declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import current_user

from csa.models import Role

F = TypeVar("F", bound=Callable[..., Any])

PUBLIC = frozenset({"public"})
ATTR = "csa_roles"

STAFF = (Role.COORDINATOR, Role.ADMIN)
FIELD = (Role.FARMER, Role.COORDINATOR, Role.ADMIN)
ANY_USER = (Role.MEMBER, Role.FARMER, Role.COORDINATOR, Role.ADMIN)


def roles(*allowed: Role) -> Callable[[F], F]:
    """Declare the roles that may use a view (admin may use every non-public view)."""

    def mark(view: F) -> F:
        setattr(view, ATTR, frozenset(allowed) | {Role.ADMIN})
        return view

    return mark


def public(view: F) -> F:
    """Declare a view anyone may use, logged in or not."""
    setattr(view, ATTR, PUBLIC)
    return view


def rule_for(app: Flask, endpoint: str) -> frozenset[Any] | None:
    """Return the declared rule of an endpoint, or None if it has none."""
    if endpoint == "static" or endpoint.endswith(".static"):
        return PUBLIC
    view = app.view_functions.get(endpoint)
    return getattr(view, ATTR, None)


def may_open(endpoint: str) -> bool:
    """Whether the signed-in user may open a registered endpoint (menus, section bars)."""
    if not current_user.is_authenticated or endpoint not in current_app.view_functions:
        return False
    rule = rule_for(current_app, endpoint)
    return rule is not None and current_user.role in rule


def check_access() -> Any:
    """Refuse the request unless the endpoint's rule admits the current user."""
    if request.endpoint is None:
        return None  # 404 follows
    rule = rule_for(current_app, request.endpoint)
    if rule is None:
        current_app.logger.error("endpoint %s declares no roles; refused", request.endpoint)
        abort(403)
    if rule is PUBLIC:
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if current_user.role not in rule:
        abort(403)
    return None


def safe_next(target: str | None) -> str | None:
    """Return target if it is a local path, else None (no open redirect)."""
    if not target:
        return None
    target = target.replace("\\", "/").strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    if any(ord(c) < 32 for c in target):
        return None
    return target


def register_access(app: Flask) -> None:
    app.before_request(check_access)
