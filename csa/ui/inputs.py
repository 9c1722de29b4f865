"""One filter for everything a request carries: NUL and control characters answer 400.

It runs before every view (and before the access check, so the anonymous login form is
covered too), over the query string, the form fields and the text parts of the path. What
may be refused is said once, in csa/core/text.py; how text fields are cleaned is said by
`InputForm` in csa/ui/forms.py. Uploaded files are read by their own importers.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, current_app, request
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest

from csa.core.text import refused


class InputRefused(BadRequest):
    """A request holding a character no field may hold; the page says which part."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _bad(pairs: Iterable[tuple[str, object]]) -> bool:
    # A key or value that is not text (the test client passes a field sent empty as None)
    # holds no character to refuse.
    return any(
        (isinstance(key, str) and refused(key)) or (isinstance(value, str) and refused(value))
        for key, value in pairs
    )


def check_request() -> None:
    """Refuse a request whose query, form or path holds NUL or another control character."""
    if _bad(request.args.items(multi=True)):
        raise InputRefused(_("The address holds a control character; nothing was changed."))
    if request.method in ("POST", "PUT", "PATCH") and _bad(request.form.items(multi=True)):
        raise InputRefused(
            _(
                "The form holds a control character (such as a NUL byte) that no field may "
                "hold; nothing was saved. Retype the text and send it again."
            )
        )
    path_values = (request.view_args or {}).values()
    if _bad(("", v) for v in path_values if isinstance(v, str)):
        raise InputRefused(_("The address holds a control character; nothing was changed."))


def limit_request_size() -> None:
    """Bound a body before anything reads it: only a multipart upload may be large.

    Werkzeug bounds a url-encoded form by the content length alone, so a 3,000-line
    harvest form was read and processed whole; MAX_FORM_BYTES stops it at the door.
    """
    if request.mimetype != "multipart/form-data":
        request.max_content_length = int(current_app.config["MAX_FORM_BYTES"])


def register_request_limits(app: Flask) -> None:
    """Call before CSRFProtect registers its hook: that hook reads the form."""
    app.before_request(limit_request_size)


def register_input_filter(app: Flask) -> None:
    app.before_request(check_request)
