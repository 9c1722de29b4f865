"""Sign-in that holds (issue 10: 3, 4, 7, 13): the throttle per (account, address) with
growing delays and its atomic count, the proxy setting, sessions that end, the remember-me
cookie's flags and the cost of a sign-in for an unknown e-mail."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from csa import create_app
from csa.extensions import db as _db
from csa.models import Role, User
from tests.conftest import PASSWORD


@pytest.fixture
def web(app_config, app):
    """An app on the same database whose requests each get their own app context and `g`, as
    in production (the `app` fixture's context is shared by its clients' requests, and with
    it Flask-Login's cached user)."""
    other = create_app(app_config)
    yield other
    with other.app_context():
        _db.engine.dispose()


A = {"REMOTE_ADDR": "192.0.2.1"}
B = {"REMOTE_ADDR": "198.51.100.7"}


def _login(client, email, password=PASSWORD, environ=None, **data):
    return client.post(
        "/auth/login",
        data={"email": email, "password": password, **data},
        environ_base=environ or A,
    )


def _expire_delays(db):
    """Let the delays run out, as if the wait had passed (the rows are the throttle's clock)."""
    from csa.core.clock import utcnow
    from csa.models import LoginThrottle

    db.session.execute(update(LoginThrottle).values(blocked_until=utcnow() - timedelta(seconds=1)))
    db.session.commit()


# --- throttle ---------------------------------------------------------------------------------


def test_failures_elsewhere_do_not_lock_out_the_real_user(client, make_user):
    user = make_user(Role.MEMBER)
    for _ in range(8):
        _login(client, user.email, "wrong-password", environ=A)
    # The account's owner, from its own address, signs in at once.
    assert _login(client, user.email, environ=B).status_code == 302


def test_a_busy_address_still_lets_its_people_sign_in(client, make_user):
    """Twenty-five typos from one farm's NAT, over many accounts, lock nobody out."""
    user = make_user(Role.MEMBER)
    for i in range(25):
        assert _login(client, f"someone{i}@example.org", "typo", environ=A).status_code == 200
    assert _login(client, user.email, environ=A).status_code == 302


def test_delays_grow_after_five_failures(client, make_user, db):
    user = make_user(Role.FARMER)
    for _ in range(5):
        assert _login(client, user.email, "wrong-password").status_code == 200
    waits = []
    for _ in range(4):
        refused = _login(client, user.email)  # even the right password waits its turn
        assert refused.status_code == 429
        waits.append(int(refused.headers["Retry-After"]))
        assert b"Too many attempts" in refused.data
        _expire_delays(db)
        assert _login(client, user.email, "wrong-password").status_code == 200
    assert waits == [1, 2, 4, 8]
    # The right password, once the delay has passed, signs in and clears the count.
    _expire_delays(db)
    assert _login(client, user.email).status_code == 302
    client.post("/auth/logout")
    assert _login(client, user.email, "wrong-password").status_code == 200
    assert _login(client, user.email).status_code == 302


def test_the_address_cap_holds_across_accounts(app, client, make_user):
    app.config["THROTTLE_LOGIN_ADDRESS"] = (3, 1, 60, 3600)
    user = make_user(Role.MEMBER)
    for i in range(3):
        _login(client, f"nobody{i}@example.org", "wrong-password", environ=A)
    assert _login(client, user.email, environ=A).status_code == 429
    assert _login(client, user.email, environ=B).status_code == 302


def _race(app, email, password, n=40):
    """n sign-ins at once, each from its own client and thread; their status codes."""
    barrier = threading.Barrier(n)
    codes: list[int] = []
    lock = threading.Lock()

    def attempt() -> None:
        client = app.test_client()
        barrier.wait()
        code = _login(client, email, password).status_code
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=attempt) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def test_forty_parallel_attempts_check_exactly_five(app, make_user, db):
    """Against a file database or PostgreSQL: the count is taken atomically before each check."""
    # A long first delay, so a slow machine cannot let a sixth attempt in legitimately.
    app.config["THROTTLE_LOGIN_PAIR"] = (5, 600, 900, 86400)
    user = make_user(Role.MEMBER)
    calls = _count_hashes()
    with calls:
        codes = _race(app, user.email, "wrong-password")
    assert sorted(codes) == [200] * 5 + [429] * 35
    assert calls.count == 5  # only the five admitted attempts were checked
    from csa.models import LoginThrottle

    counted = db.session.scalar(
        select(LoginThrottle.failures).where(LoginThrottle.email == user.email)
    )
    assert counted == 5


def test_a_sign_in_succeeding_while_another_is_counted_does_not_deadlock(app, make_user, db):
    """Two sign-ins of one login from one address: one is being counted (it holds the
    address row and is about to update the pair row) while the other, already checked,
    clears its attempts. Both must finish: the success locks the rows in the counting order
    (address, then pair). In the other order PostgreSQL found a deadlock and one failed."""
    from csa.accounts import throttle

    user = make_user(Role.MEMBER)
    address = "192.0.2.7"
    with app.app_context():
        throttle.take_login(user.email, address)  # both rows exist, one attempt each
        _db.session.commit()
    counting_holds_address = threading.Event()
    go_on = threading.Event()
    problems: list[BaseException] = []

    def counting() -> None:
        try:
            with app.app_context():
                throttle.take(throttle.LOGIN, "", address, throttle.rule("LOGIN_ADDRESS"))
                counting_holds_address.set()
                go_on.wait(10)
                throttle.take(throttle.LOGIN, user.email, address, throttle.rule("LOGIN_PAIR"))
                _db.session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            problems.append(exc)

    def succeeding() -> None:
        try:
            with app.app_context():
                throttle.login_succeeded(user.email, address)
                _db.session.commit()
        except BaseException as exc:  # noqa: BLE001 - reported below
            problems.append(exc)

    first = threading.Thread(target=counting)
    first.start()
    assert counting_holds_address.wait(10)
    second = threading.Thread(target=succeeding)
    second.start()
    second.join(0.5)  # the success is now waiting on a row the count holds
    go_on.set()
    first.join(30)
    second.join(30)
    assert not first.is_alive()
    assert not second.is_alive()
    assert problems == []


# --- the proxy setting ----------------------------------------------------------------------


def _addresses(db):
    from csa.models import LoginThrottle

    return sorted(db.session.scalars(select(LoginThrottle.address).distinct()))


def test_forwarded_for_is_ignored_without_the_proxy_setting(client, db):
    _login(client, "x@example.org", "bad", environ=A, **{})
    client.post(
        "/auth/login",
        data={"email": "x@example.org", "password": "bad"},
        environ_base=A,
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert _addresses(db) == ["192.0.2.1"]


def test_forwarded_for_is_trusted_behind_the_configured_proxies(app_config, db):
    proxied = create_app({**app_config, "PROXY_COUNT": 1})
    proxied.test_client().post(
        "/auth/login",
        data={"email": "x@example.org", "password": "bad"},
        environ_base=A,
        # A client's own X-Forwarded-For comes first; the one proxy appends the real one.
        headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.9"},
    )
    with proxied.app_context():
        _db.engine.dispose()
    assert _addresses(db) == ["203.0.113.9"]


# --- sessions ---------------------------------------------------------------------------------


def _copy_cookies(source, target):
    for cookie in source._cookies.values():
        target.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)


def test_logout_ends_the_copied_session_and_remember_cookie(web, make_user):
    user = make_user(Role.COORDINATOR)
    client = web.test_client()
    assert _login(client, user.email, remember="y").status_code == 302
    assert client.get_cookie("remember_token") is not None
    thief, thief_remembered = web.test_client(), web.test_client()
    _copy_cookies(client, thief)
    thief_remembered.set_cookie("remember_token", client.get_cookie("remember_token").value)
    assert thief.get("/register/").status_code == 200
    assert thief_remembered.get("/register/").status_code == 200
    logged_out = client.post("/auth/logout")
    assert "remember_token=;" in " ".join(logged_out.headers.getlist("Set-Cookie"))
    assert client.get("/register/").status_code == 302
    assert thief.get("/register/").status_code == 302
    fresh = web.test_client()
    fresh.set_cookie("remember_token", thief_remembered.get_cookie("remember_token").value)
    assert fresh.get("/register/").status_code == 302


def test_a_password_change_ends_every_other_session(web, make_user, db):
    from csa.accounts import operations as accounts

    user = make_user(Role.FARMER)
    client = web.test_client()
    _login(client, user.email, remember="y")
    remembered = web.test_client()
    remembered.set_cookie("remember_token", client.get_cookie("remember_token").value)
    user.password_hash = ""  # as after a reset: the set-password link works again
    db.session.commit()
    token = accounts.invite_token(user)
    other = web.test_client()
    response = other.post(
        f"/auth/set-password/{token}",
        data={"password": "a-new-password", "confirm": "a-new-password"},
    )
    assert response.status_code == 302
    assert other.get("/harvest/").status_code == 200  # the one who changed it stays in
    assert client.get("/harvest/").status_code == 302
    assert remembered.get("/harvest/").status_code == 302


def test_deactivation_ends_sessions_for_good(web, make_user, db):
    from csa.accounts import operations as accounts

    admin = make_user(Role.ADMIN)
    user = make_user(Role.FARMER)
    client = web.test_client()
    _login(client, user.email, remember="y")
    accounts.set_user_active(user, False, admin)
    db.session.commit()
    accounts.set_user_active(user, True, admin)
    db.session.commit()
    assert client.get("/harvest/").status_code == 302


def test_cookies_from_before_session_versions_sign_nobody_in(web, make_user):
    """An old cookie names the bare id; it must not pass for any version."""
    user = make_user(Role.COORDINATOR)
    client = web.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(user.id)
        session["_fresh"] = True
    assert client.get("/register/").status_code == 302


# --- the remember-me cookie ---------------------------------------------------------------------


def test_remember_cookie_follows_the_session_cookie_setting(app_config, db, make_user):
    user = make_user(Role.MEMBER)
    secure = create_app({**app_config, "SESSION_COOKIE_SECURE": True})
    response = _login(secure.test_client(), user.email, remember="y")
    with secure.app_context():
        _db.engine.dispose()
    (remember,) = [c for c in response.headers.getlist("Set-Cookie") if "remember_token" in c]
    assert "Secure" in remember
    assert "HttpOnly" in remember
    assert "SameSite=Lax" in remember


def test_remember_cookie_lasts_fourteen_days(client, make_user):
    from http.cookies import SimpleCookie

    from csa.core.clock import utcnow

    user = make_user(Role.MEMBER)
    response = _login(client, user.email, remember="y")
    (header,) = [c for c in response.headers.getlist("Set-Cookie") if "remember_token" in c]
    cookie = SimpleCookie(header)["remember_token"]
    from email.utils import parsedate_to_datetime

    lasts = parsedate_to_datetime(cookie["expires"]).replace(tzinfo=None) - utcnow()
    assert timedelta(days=13, hours=23) < lasts <= timedelta(days=14)


# --- timing -----------------------------------------------------------------------------------


class _HashCounter:
    """Counts PBKDF2 computations (the tests' hash method) with their parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self._real = hashlib.pbkdf2_hmac
        self._lock = threading.Lock()

    @property
    def count(self) -> int:
        return len(self.calls)

    def __enter__(self) -> _HashCounter:
        def counting(name, password, salt, iterations, *args, **kwargs):
            with self._lock:
                self.calls.append((name, iterations))
            return self._real(name, password, salt, iterations, *args, **kwargs)

        hashlib.pbkdf2_hmac = counting
        return self

    def __exit__(self, *exc: object) -> None:
        hashlib.pbkdf2_hmac = self._real


def _count_hashes() -> _HashCounter:
    return _HashCounter()


@pytest.mark.parametrize("state", ["unknown", "no-password", "deactivated", "wrong-password"])
def test_every_failed_sign_in_costs_one_real_hash(client, make_user, db, state):
    user = make_user(Role.MEMBER, email="real@example.org")
    with _count_hashes() as known:
        _login(client, user.email, "wrong-password")
    email = {"unknown": "ghost@example.org"}.get(state, user.email)
    if state == "no-password":
        user.password_hash = ""
    elif state == "deactivated":
        user.active = False
    db.session.commit()
    with _count_hashes() as other:
        response = _login(client, email, "wrong-password" if state != "deactivated" else PASSWORD)
    assert b"Wrong e-mail or password" in response.data
    assert other.calls == known.calls  # the same number, the same method and iterations
    assert known.count == 1


def test_the_session_id_names_the_version(make_user, db):
    user = make_user(Role.MEMBER)
    assert user.get_id() == f"{user.id}:0"
    from csa.accounts import operations as accounts

    accounts.end_sessions(user)
    db.session.commit()
    assert db.session.scalar(select(User.session_version).where(User.id == user.id)) == 1


def test_dead_keys_are_swept_out(client, db):
    """Sprayed e-mails leave rows; an address starting afresh deletes those quiet for a day."""
    from csa.core.clock import utcnow
    from csa.models import LoginThrottle

    for i in range(3):
        _login(client, f"sprayed{i}@example.org", "guess", environ=A)
    db.session.execute(update(LoginThrottle).values(last_failure_at=utcnow() - timedelta(days=2)))
    db.session.commit()
    _login(client, "once@example.org", "typo", environ=B)
    left = db.session.execute(select(LoginThrottle.email, LoginThrottle.address)).all()
    assert sorted(tuple(r) for r in left) == [
        ("", B["REMOTE_ADDR"]),
        ("once@example.org", B["REMOTE_ADDR"]),
    ]
