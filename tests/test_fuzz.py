"""Hostile input on every form and on the CSV import: never a 500, never a partial write.

Each POST route of the URL map is a target; its form is found on the pages the app serves
(field names as csa/*/forms.py and the templates make them) and filled by Hypothesis with
real values mixed with hostile ones (huge and negative numbers, unicode digits, NUL and
control characters, CR/LF, bidi overrides, 100,000 characters, formula prefixes, HTML).
A refused submission must say why and leave every table as it was (a fingerprint of each
table before and after). `make fuzz` runs the long profile (CSA_FUZZ=1).
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from flask import Flask
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from csa import create_app
from csa.models import Role
from tests import fuzzing
from tests.fuzzing import (
    PROFILE,
    Form,
    error_messages,
    field_values,
    forms_on,
    hostile,
    probes,
)
from tests.proof import Browser, World, build_world, changed_tables, fill_rule, fingerprint

# Rules that are not fuzzed here, and why.
NOT_FUZZED = {
    "auth.logout": "ends the session; tests/test_auth.py",
    "register.import_members": "its file is fuzzed as CSV by test_fuzz_csv_import",
}
# Tables a refused request may write on purpose: a failed sign-in is counted.
MAY_WRITE = {
    "auth.login": {"login_throttle"},
    "auth.forgot": {"login_throttle"},
    # Checking the current password counts like a sign-in (csa/accounts/account_views.py).
    "account.password": {"login_throttle"},
    "account.email": {"login_throttle"},
    # A sign-up refused for too many from one address is counted (csa/signup/views.py).
    "signup.join": {"login_throttle"},
}
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
# (target, backend or "any") -> reason: a known defect not fixed yet (none today: the
# ones this fuzzer found, issue 10's defects 1-5 of bad input, are fixed and tested).
XFAIL: dict[tuple[str, str], str] = {}


def _key(rule: Rule) -> str:
    kind = (rule.defaults or {}).get("kind")
    return f"{rule.endpoint}:{kind}" if kind else rule.endpoint


def _post_targets() -> list[str]:
    """Every POST rule of the URL map (a route added later becomes a target by itself)."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "TESTING": True})
    keys = {_key(r) for r in app.url_map.iter_rules() if "POST" in (r.methods or ())}
    return sorted(keys - set(NOT_FUZZED))


TARGETS = _post_targets()
_catalogs: dict[str, dict[str, tuple[str, Form]]] = {}


@pytest.fixture
def world(app: Flask, db: Any, make_user: Any) -> World:
    world = build_world(make_user)
    app.config["WTF_CSRF_ENABLED"] = True  # as in production; Flask-WTF reads it per request
    return world


def _browser(app: Flask, world: World, who: str) -> Browser:
    browser = Browser(app)
    if who == "anonymous":
        browser.fetch_token("/auth/login")
    else:
        browser.login(world.emails[who])
    return browser


def _catalog(app: Flask, world: World, backend: str) -> dict[str, tuple[str, Form]]:
    """Target -> (who may send it, its form), read from every page each walker is served.

    The world is built the same way in every test, so one crawl per backend serves all.
    """
    if backend in _catalogs:
        return _catalogs[backend]
    found: dict[str, tuple[str, Form, bool]] = {}
    adapter = app.url_map.bind("localhost")
    pages = [r for r in app.url_map.iter_rules() if "GET" in (r.methods or ())]
    for who in ("admin", "member_a", "anonymous"):
        browser = _browser(app, world, who)
        urls = [fill_rule(r, world, day) for r in pages for day in (world.open_day, None)]
        urls += [world.invite_path, "/auth/login", *world.pages]
        for url in dict.fromkeys(urls):
            if url.split("?")[0].endswith((".pdf", ".csv", ".ics", ".css", ".js")):
                continue
            response = browser.get(url)
            if response.status_code != 200 or b"<form" not in response.data:
                continue
            for form in forms_on(url, response.data):
                rule, args = adapter.match(form.action.split("?")[0], "POST", return_rule=True)
                key = _key(rule)
                # Act on B's rows, never on the walker's own login (it would lock itself out).
                theirs = all(world.ids.get(k, v) == v for k, v in args.items())
                if key not in found or (theirs and not found[key][2]):
                    found[key] = (who, form, theirs)
    _catalogs[backend] = {k: (who, form) for k, (who, form, _theirs) in found.items()}
    return _catalogs[backend]


def _submit(browser: Browser, form: Form, data: dict[str, Any]) -> tuple[bytes, int]:
    """Send a form as a browser does and return what it answered (and where it led)."""
    response = browser.post(form.action, data, content_type="multipart/form-data")
    assert response.status_code < 500, response.status_code
    body = response.data
    if response.status_code in (301, 302, 303):
        follow = browser.get(response.headers["Location"])
        assert follow.status_code < 500
        body += follow.data
    return body, response.status_code


def _check(target: str, before: dict[str, str], body: bytes, status: int) -> None:
    """A refusal says why, clearly, and wrote nothing."""
    messages = error_messages(body)
    if status >= 400 or messages:
        assert messages, f"{target} refused ({status}) without saying why"
        for message in messages:
            assert len(message) >= 5, messages
            assert "Traceback" not in message, messages
            assert "Error(" not in message, messages
        changed = set(changed_tables(before, fingerprint())) - MAY_WRITE.get(target, set())
        assert not changed, f"{target} refused but wrote {sorted(changed)}: {messages}"


def _known_defect(request: pytest.FixtureRequest, target: str, backend: str) -> Any:
    """Mark a (target, backend) xfail while its defect is fixed on another branch, and
    return the Hypothesis settings: no shrinking of a failure already known."""
    reason = XFAIL.get((target, backend)) or XFAIL.get((target, "any"))
    if not reason:
        return PROFILE
    request.applymarker(pytest.mark.xfail(reason=reason, strict=False))
    return settings(PROFILE, phases=[Phase.explicit, Phase.reuse, Phase.generate])


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_form(app, world, backend, target, request):
    profile = _known_defect(request, target, backend)
    catalog = _catalog(app, world, backend)
    assert target in catalog, f"no page offers a form posting to {target}"
    who, form = catalog[target]
    browser = _browser(app, world, who)
    fields = {name: f for name, f in form.fields.items() if name != "csrf_token"}
    # Fields no form has are hostile input too (and give a bare button's form some room).
    extra = st.dictionaries(
        st.text(min_size=1, max_size=12).filter(lambda k: k not in form.fields),
        hostile.map(lambda v: [v]),
        max_size=2,
    )
    strategy = st.tuples(
        st.fixed_dictionaries({name: field_values(f) for name, f in fields.items()}), extra
    ).map(lambda pair: {**pair[0], **pair[1]})

    @profile
    @given(values=strategy)
    def case(values: dict[str, list[str]]) -> None:
        fuzzing.CASES[target] = fuzzing.CASES.get(target, 0) + 1
        data: dict[str, Any] = {k: v for k, v in values.items() if v}
        before = fingerprint()
        body, status = _submit(browser, form, data)
        _check(target, before, body, status)

    if fuzzing.LONG_RUN:
        for values in probes(fields):
            case = example(values=values)(case)
    case()


# --- the CSV import -------------------------------------------------------------------------

COLUMNS = ["name", "email", "phone", "share_type", "shares", "site", "season", "start", "end"]


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    """A register file: real headers (shuffled, some missing, some extra), real and hostile
    cells, either delimiter, a BOM or not; now and then raw bytes or a broken encoding."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    headers = draw(st.permutations(COLUMNS))
    if draw(st.booleans()):
        headers = headers[: draw(st.integers(0, len(headers)))]
    if draw(st.booleans()):
        headers = [*headers, draw(hostile)]
    real = {
        "name": st.sampled_from(["Ewa Nowak", "Jan Kowalski", "Łucja Żak"]),
        "email": st.sampled_from(["ewa@example.org", "jan@example.org", "anna-a@example.org"]),
        "phone": st.sampled_from(["", "+48 600 100 200"]),
        "share_type": st.sampled_from(["Full", "Half", "Family"]),
        "shares": st.sampled_from(["1", "2"]),
        "site": st.sampled_from(["Old Mill", "Town Hall"]),
        "season": st.sampled_from(["", "x"]).map(lambda _: ""),
        "start": st.just(""),
        "end": st.just(""),
    }
    rows = []
    for _ in range(draw(st.integers(0, 4))):
        row = []
        for header in headers:
            good = real.get(header, st.just(""))
            row.append(draw(st.one_of(good, good, hostile)))
        rows.append(row)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=draw(st.sampled_from([",", ";"])))
    writer.writerow(headers)
    writer.writerows(rows)
    text = ("\ufeff" if draw(st.booleans()) else "") + out.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "cp1250", "utf-16"]))
    return text.encode(encoding, "replace")


def test_fuzz_csv_import(app, world, backend, request):
    """Hostile files: refused whole with reasons, or imported; importing again adds nothing."""
    profile = _known_defect(request, "register.import_members", backend)
    browser = _browser(app, world, "admin")
    season = browser.get("/setup/seasons").data  # the season's real name, for cells
    assert b"Season" in season

    @profile
    @given(data=csv_files())
    def case(data: bytes) -> None:
        fuzzing.CASES["register.import_members"] = (
            fuzzing.CASES.get("register.import_members", 0) + 1
        )
        before = fingerprint()
        body, status = _submit(
            browser, _IMPORT, {"file": (io.BytesIO(data), "members.csv"), "submit": "Import"}
        )
        _check("register.import_members", before, body, status)
        if not error_messages(body):
            again = fingerprint()
            body, status = _submit(
                browser, _IMPORT, {"file": (io.BytesIO(data), "members.csv"), "submit": "Import"}
            )
            assert not error_messages(body), error_messages(body)
            assert changed_tables(again, fingerprint()) == [], "the same file imported twice"

    case()


_IMPORT = Form("/register/import", "/register/import", multipart=True)


def test_every_post_route_is_a_target():
    """The targets come from the URL map: a new POST route is fuzzed without being listed."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "TESTING": True})
    posts = {_key(r) for r in app.url_map.iter_rules() if "POST" in (r.methods or ())}
    assert posts == set(TARGETS) | set(NOT_FUZZED)
    assert len(TARGETS) > 30
    assert Role.MEMBER  # the member's own forms (hold, opt-outs) are among them
    assert {"share.hold", "share.opt_outs", "harvest.record"} <= set(TARGETS)


# --- the bank statement import (csa/payments) -----------------------------------------------


@st.composite
def statement_files(draw: st.DrawFn) -> bytes:
    """A camt.053/054 of some version with real and hostile entries, a CSV in the world's
    saved mapping, or raw bytes; entities and huge amounts now and then."""
    from xml.sax.saxutils import escape

    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    text = st.one_of(
        st.sampled_from(["Anna Avocado", "Qzwxb Leakcheck", "RF18539007547034"]), hostile
    )
    amount = st.one_of(st.sampled_from(["12.34", "0.00", "650.00", "1e5", "-3.00"]), hostile)
    if kind <= 3:
        rows = [
            ";".join(
                [
                    draw(st.sampled_from(["03.05.2027", "31.02.2027", ""])),
                    draw(amount).replace(".", ","),
                    draw(text),
                    draw(text),
                ]
            )
            for _ in range(draw(st.integers(0, 4)))
        ]
        return ("Datum;Betrag;Name;Zweck\n" + "\n".join(rows)).encode("utf-8", "replace")
    version = draw(st.sampled_from(["camt.053.001.02", "camt.053.001.08", "camt.054.001.04"]))
    entries = []
    for _ in range(draw(st.integers(0, 4))):
        name = escape(draw(text)) if draw(st.booleans()) else draw(text)
        ccy = draw(st.sampled_from(["EUR", "CHF", "", "€"]))
        entries.append(
            f'<Ntry><Amt Ccy="{ccy}">{escape(draw(amount))}</Amt>'
            f"<CdtDbtInd>{draw(st.sampled_from(['CRDT', 'DBIT', 'X']))}</CdtDbtInd>"
            f"<BookgDt><Dt>{draw(st.sampled_from(['2027-05-03', '2027-13-40', '']))}</Dt></BookgDt>"
            f"<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>{name}</Nm></Dbtr></RltdPties>"
            f"<RmtInf><Ustrd>{escape(draw(text))}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        )
    doctype = (
        '<!DOCTYPE Document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        if draw(st.booleans()) and kind == 9
        else ""
    )
    body = (
        f'<?xml version="1.0"?>{doctype}<Document xmlns="urn:iso:std:iso:20022:tech:xsd:{version}">'
        f"<BkToCstmrStmt><Stmt><Acct><Ccy>EUR</Ccy></Acct>{''.join(entries)}</Stmt></BkToCstmrStmt></Document>"
    )
    return body.encode("utf-8", "replace")


def test_fuzz_statement_import(app, world, backend, request):
    """Hostile statements: refused whole with reasons, or imported; importing again adds
    nothing."""
    profile = _known_defect(request, "payments.import_statement", backend)
    browser = _browser(app, world, "admin")

    @profile
    @given(data=statement_files())
    def case(data: bytes) -> None:
        fuzzing.CASES["payments.import_statement"] = (
            fuzzing.CASES.get("payments.import_statement", 0) + 1
        )
        upload = {"file": (io.BytesIO(data), "statement.xml"), "format": "auto", "submit": "Import"}
        before = fingerprint()
        body, status = _submit(browser, _STATEMENT, upload)
        _check("payments.import_statement", before, body, status)
        if not error_messages(body):
            again = fingerprint()
            upload["file"] = (io.BytesIO(data), "statement.xml")
            body, status = _submit(browser, _STATEMENT, upload)
            assert not error_messages(body), error_messages(body)
            assert changed_tables(again, fingerprint()) == [], "the same statement imported twice"

    case()


_STATEMENT = Form("/payments/import", "/payments/import", multipart=True)
