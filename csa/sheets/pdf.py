"""Render Jinja templates to PDF with WeasyPrint.

One FontConfiguration per process, passed to CSS() and to the layout (a new one per render
leaks memory); stylesheets parsed once and reused (parsing is a fixed cost of every
document); a URL fetcher that reads only files under our own static folder, so a template
or a member's name can never make the renderer fetch a remote or local file. WeasyPrint is
imported on first use: the web app starts without paying for it. Renders in one process
take turns (a lock): they share that font configuration, and Pango has crashed under
concurrent use in threaded servers; parallel renders use processes (csa.sheets.build).
"""

from __future__ import annotations

import logging
import os
import re
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template
from flask_babel import gettext as _

if TYPE_CHECKING:
    from weasyprint import CSS, Document
    from weasyprint.text.fonts import FontConfiguration

PAGE_SIZES = {"a4": "A4", "letter": "letter"}
DEFAULT_STYLESHEET = "sheets/sheets.css"

_lock = threading.Lock()
_render_lock = threading.RLock()
# WeasyPrint logs every layout step at INFO; under the app's INFO root logger that is a
# line per page per document, and writing it costs measurable time.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
_fonts: FontConfiguration | None = None
_html_class: Any = None
# Parsed stylesheets keyed by their text: the text depends only on the page size and the
# locale's "page x of y" label, so this stays a handful of entries.
_stylesheets: dict[str, CSS] = {}


class FetchRefused(ValueError):
    """A document asked for a URL outside the static folder."""


# ldconfig's ABI tag for this process, as ctypes.util works it out (else plain "libc6").
_LDCONFIG_ABI = {
    "x86_64-64": "libc6,x86-64",
    "ppc64-64": "libc6,64bit",
    "sparc64-64": "libc6,64bit",
    "s390x-64": "libc6,64bit",
    "ia64-64": "libc6,IA-64",
}


def _linker_cache_lookup() -> Callable[[str], str | None] | None:
    """A find_library that answers from one reading of the linker cache (`ldconfig -p`),
    or None where there is no such cache (not Linux, no ldconfig)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        listing = subprocess.run(
            ["/sbin/ldconfig", "-p"],  # noqa: S603 - a fixed command, no user input
            capture_output=True,
            env={"LC_ALL": "C", "LANG": "C"},
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    bits = "-32" if struct.calcsize("l") == 4 else "-64"
    abi = _LDCONFIG_ABI.get(os.uname().machine + bits, "libc6")

    def find_library(name: str) -> str | None:
        pattern = rf"\s+(lib{re.escape(name)}\.[^\s]+)\s+\({abi}"
        found = re.search(os.fsencode(pattern), listing)
        return os.fsdecode(found.group(1)) if found else None

    return find_library


def _import_weasyprint() -> None:
    """Import WeasyPrint with its C libraries looked up in one reading of the linker cache.

    WeasyPrint asks cffi for each library under several names, one per platform's way of
    naming it, and cffi hands each name without a dot to ctypes.util.find_library, which
    on Linux runs ldconfig, gcc and ld for it: 22 lookups, about 0.25 s of subprocesses
    before the first render of every process (measured with gcc installed). Here the
    names are answered from one `ldconfig -p`; a name not in the cache is simply not found
    there, and WeasyPrint goes on to the next, ending with the full file name
    (libpango-1.0.so.0), which the dynamic loader finds by itself.
    """
    if "weasyprint" in sys.modules:
        return
    import ctypes.util

    lookup = _linker_cache_lookup()
    if lookup is None:
        import weasyprint  # noqa: F401

        return
    real = ctypes.util.find_library
    ctypes.util.find_library = lookup  # type: ignore[assignment]
    try:
        import weasyprint  # noqa: F401
    finally:
        ctypes.util.find_library = real


def font_config() -> FontConfiguration:
    """The process's one FontConfiguration (created on first use)."""
    global _fonts
    if _fonts is None:
        with _lock:
            if _fonts is None:
                _import_weasyprint()
                from weasyprint.text.fonts import FontConfiguration

                _fonts = FontConfiguration()
    return _fonts


def html_class() -> Any:
    """WeasyPrint's HTML with a leaner user-agent stylesheet (made once per process).

    The stock one gives every element six pseudo-elements (::marker, ::footnote-call, ...)
    whose styles are computed one by one: about a sixth of the time of a long table. Our
    sheets use no lists or footnotes, so those rules are dropped; everything else is
    WeasyPrint's own file. If a later WeasyPrint renames the hook, the stock sheet is
    simply used again.
    """
    global _html_class
    if _html_class is None:
        with _lock:
            if _html_class is None:
                _html_class = _lean_html_class()
    return _html_class


def _lean_html_class() -> Any:
    import weasyprint
    from weasyprint import CSS, HTML

    if not hasattr(HTML, "_ua_stylesheets"):
        return HTML
    try:
        from weasyprint.css.counters import CounterStyle

        ua = (Path(weasyprint.__file__).parent / "css" / "html5_ua.css").read_text("utf-8")
        lean = CSS(
            string=re.sub(r"^::[\w-]+\s*\{[^}]*\}[ \t]*$", "", ua, flags=re.M),
            # Its @counter-style rules are in WeasyPrint's own UA counter styles already
            # (HTML._ua_counter_style); parse them into a throwaway set.
            counter_style=CounterStyle(),
        )
    except (ImportError, OSError):  # a WeasyPrint laid out differently: use it as it is
        return HTML

    class LeanHTML(HTML):
        def _ua_stylesheets(self, forms: bool = False) -> list[Any]:
            return [lean]

    return LeanHTML


def warm_up() -> None:
    """Import WeasyPrint and parse the stylesheets now, e.g. before forking workers."""
    font_config()
    html_class()
    stylesheet()


def static_root() -> Path:
    return Path(current_app.static_folder or "static").resolve()


def static_fetcher(root: Path) -> Any:
    """A WeasyPrint URL fetcher that serves files under `root` and refuses anything else."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
            parts = urlsplit(url)
            if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
                raise FetchRefused(f"refused to fetch {url}")
            path = Path(unquote(parts.path)).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                raise FetchRefused(f"refused to fetch {url}")
            return URLFetcherResponse(url, path.read_bytes())

    return StaticOnlyFetcher()


def css_string(text: str) -> str:
    """Quote text as a CSS string."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\A ")
    return f'"{escaped}"'


def page_label_css(total: int | None = None) -> str:
    """The translated "page x of y" as CSS content, with counters in place of x and y.

    :param total: print this number as y instead of the document's own page count (a
        part of a longer document being stamped, csa.sheets.build.number_pages).
    """
    label = _("page %(page)s of %(pages)s", page="\x00page\x00", pages="\x00pages\x00")
    parts = []
    for i, chunk in enumerate(label.split("\x00")):
        if i % 2 and chunk == "pages" and total is not None:
            parts.append(css_string(str(total)))
        elif i % 2:
            parts.append(f"counter({'pages' if chunk == 'pages' else 'page'})")
        elif chunk:
            parts.append(css_string(chunk))
    return " ".join(parts)


def page_size() -> str:
    """The configured paper size as CSS: "A4" (the default) or "letter"."""
    wanted = str(current_app.config.get("SHEETS_PAGE_SIZE") or "A4").strip().lower()
    if wanted not in PAGE_SIZES:
        raise ValueError(f"SHEETS_PAGE_SIZE must be A4 or letter, not {wanted!r}")
    return PAGE_SIZES[wanted]


_stylesheet_texts: dict[tuple[str, str, str], str] = {}


def stylesheet(template: str = DEFAULT_STYLESHEET, numbered: bool = True) -> CSS:
    """The parsed stylesheet for the configured paper size and the current locale.

    :param numbered: print "page x of y" at the foot of each page; a part of a long list
        rendered on its own is stamped with the numbers of the whole list afterwards.
    """
    label = page_label_css() if numbered else '""'
    size = page_size()
    # The CSS text depends only on these; rendering the template each time cost more
    # than the cached parse it leads to (41 renders a round at 1,000 memberships).
    key = (template, size, label)
    text = _stylesheet_texts.get(key)
    if text is None:
        text = _stylesheet_texts[key] = render_template(template, page_size=size, page_label=label)
    sheet = _stylesheets.get(text)
    if sheet is None:
        from weasyprint import CSS

        root = static_root()
        sheet = CSS(
            string=text,
            base_url=root.as_uri() + "/",
            url_fetcher=static_fetcher(root),
            font_config=font_config(),
        )
        with _lock:
            _stylesheets.setdefault(text, sheet)
    return sheet


def render_document(
    template: str, stylesheet_template: str = DEFAULT_STYLESHEET, numbered: bool = True, **ctx: Any
) -> Document:
    """Lay a template out into pages (nothing written yet): check page counts, then write."""
    root = static_root()
    text = render_template(template, **ctx)
    sheet = stylesheet(stylesheet_template, numbered=numbered)
    with _render_lock:
        html = html_class()(
            string=text, base_url=root.as_uri() + "/", url_fetcher=static_fetcher(root)
        )
        return html.render(font_config=font_config(), stylesheets=[sheet])


def write_document(document: Document) -> bytes:
    """The PDF bytes of a laid-out document (its fonts came from font_config() at layout)."""
    with _render_lock:
        return bytes(document.write_pdf())


def page_numbers(pages: int, first: int, total: int, wide: bool) -> bytes:
    """A PDF of `pages` blank pages numbered "page first of total", "first+1 of total", ...

    Laid over a part of a long pickup list rendered on its own (whose own counters would
    start again at 1), so every page shows its place in the whole list. The page geometry
    is that of the sheets' stylesheet; not cached, as the numbers differ every time.
    """
    from weasyprint import CSS

    text = render_template(
        DEFAULT_STYLESHEET, page_size=page_size(), page_label=page_label_css(total)
    )
    sheet = CSS(string=text, font_config=font_config())
    start = CSS(string=f"@page :first {{ counter-reset: page {int(first)}; }}")
    body = render_template("sheets/numbers.html", pages=pages, wide=wide)
    with _render_lock:
        html = html_class()(string=body, url_fetcher=static_fetcher(static_root()))
        document = html.render(font_config=font_config(), stylesheets=[sheet, start])
        return bytes(document.write_pdf())


def render_pdf(template: str, **ctx: Any) -> bytes:
    """Render a Jinja template to PDF bytes with the shared fonts and stylesheet."""
    return write_document(render_document(template, **ctx))
