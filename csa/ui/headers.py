"""Security headers on every response, set in one after_request hook.

The Content-Security-Policy allows scripts, styles and everything else only from this
site's own files: no inline <script>, no style="" attribute, no <style> block in a page
(templates/ keeps them in static/). Frames of the app on other sites are refused, the
Referer stays on this site (Flask-WTF compares it with the host on HTTPS, so it must not be
dropped for same-origin posts), and HSTS is sent when cookies are marked secure, which
means the site is served over HTTPS.
"""

from __future__ import annotations

from flask import Flask, Response, current_app

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HSTS = "max-age=31536000; includeSubDomains"


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    # Not on the sheets: a PDF runs no page code, and Chromium's viewer, which embeds the
    # file in a page of its own, is known to break under object-src 'none'.
    if response.mimetype != "application/pdf":
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if current_app.config.get("SESSION_COOKIE_SECURE"):
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def register_security_headers(app: Flask) -> None:
    app.after_request(add_security_headers)
