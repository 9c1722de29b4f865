"""A harvest form sent again counts once: its one-time token is stored with the entries it
created (unique), so a retry after a dropped connection, a double tap or two resends at
the same moment answer "already saved" and show what was saved, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import threading
from datetime import date
from typing import Any

import pytest
from sqlalchemy import event, func, select

from csa.harvest import operations as harvest
from csa.harvest.forms import new_token
from csa.models import HarvestAudit, HarvestEntry, HarvestSubmission, Role
from csa.rounds.lifecycle import create_round
from tests.conftest import AuthActions
from tests.factories import add_member, make_farm

TUESDAY = date(2027, 5, 4)


@pytest.fixture
def farm(db: Any) -> Any:
    farm = make_farm()
    add_member(farm, "Ann Full", farm.full)
    farm.round = create_round(TUESDAY, extra=False)
    db.session.commit()
    return farm


@pytest.fixture
def farmer(make_user: Any, auth: Any) -> Any:
    user = make_user(Role.FARMER)
    auth.login(user.email)
    return user


def counts(db: Any) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        db.session.scalar(select(func.count()).select_from(model))
        for model in (HarvestEntry, HarvestAudit, HarvestSubmission)
    )


def stored_milli(db: Any) -> int:
    return db.session.scalar(select(func.coalesce(func.sum(HarvestEntry.quantity_milli), 0)))


def tomatoes(farm: Any, token: str, quantity: str = "10") -> dict[str, Any]:
    return {
        "round_id": farm.round.id,
        "submission": token,
        "lines-0-crop": farm.tomatoes.id,
        "lines-0-quantity": quantity,
    }


def test_the_form_carries_a_new_token_each_time(client, farm, farmer):
    tokens = []
    for _ in range(2):
        page = client.get("/harvest/").get_data(as_text=True)
        found = re.search(r'name="submission" type="hidden" value="([^"]+)"', page)
        assert found, "no one-time token in the form"
        tokens.append(found.group(1))
    assert tokens[0] != tokens[1]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{16,64}", t) for t in tokens)


def test_the_same_form_sent_four_times_counts_once(client, db, farm, farmer):
    token = new_token()
    first = client.post("/harvest/", data=tomatoes(farm, token))
    assert first.status_code == 302
    for _ in range(3):
        again = client.post("/harvest/", data=tomatoes(farm, token))
        assert again.status_code == 302
        assert again.headers["Location"] == f"/harvest/?round_id={farm.round.id}"
        page = client.get(again.headers["Location"]).get_data(as_text=True)
        assert "This form was saved already" in page
        assert "Its entries: Tomatoes 10 kg." in page
    assert counts(db) == (1, 1, 1)
    assert stored_milli(db) == 10_000
    entry = db.session.scalar(select(HarvestEntry))
    assert entry.submission.token == token
    assert entry.submission.user_id == farmer.id


def test_a_new_form_records_again(client, db, farm, farmer):
    client.post("/harvest/", data=tomatoes(farm, new_token()))
    client.post("/harvest/", data=tomatoes(farm, new_token()))
    assert stored_milli(db) == 20_000


def test_a_refused_form_corrected_and_sent_again_is_saved_once(client, db, farm, farmer):
    token = new_token()
    refused = client.post("/harvest/", data=tomatoes(farm, token, "ten"))
    assert refused.status_code == 400
    # The page sent back keeps the token: nothing was saved under it yet.
    assert f'value="{token}"' in refused.get_data(as_text=True)
    assert counts(db) == (0, 0, 0)
    assert client.post("/harvest/", data=tomatoes(farm, token, "10")).status_code == 302
    assert client.post("/harvest/", data=tomatoes(farm, token, "10")).status_code == 302
    assert stored_milli(db) == 10_000


@pytest.mark.parametrize("token", ["", "short", "a" * 65, "has space in it ok?", "ä" * 20])
def test_a_form_without_a_valid_token_writes_nothing(client, db, farm, farmer, token):
    data = tomatoes(farm, token)
    response = client.post("/harvest/", data=data)
    assert response.status_code == 400
    assert "reload the page" in response.get_data(as_text=True)
    assert counts(db) == (0, 0, 0)


def test_removed_entries_are_not_brought_back_by_a_resend(client, db, farm, farmer):
    token = new_token()
    client.post("/harvest/", data=tomatoes(farm, token))
    entry = db.session.scalar(select(HarvestEntry))
    harvest.delete_entry(entry, farmer)
    db.session.commit()
    again = client.post("/harvest/", data=tomatoes(farm, token))
    page = client.get(again.headers["Location"]).get_data(as_text=True)
    assert "the entries were removed since" in page
    assert stored_milli(db) == 0


def test_two_resends_at_the_same_moment_count_once(app, db, farm, farmer, make_user):
    """Both requests pass the "saved before?" check before either writes, then race.

    The listener holds each request right after that check until the other has made it too,
    so the unique token (not the check) has to stop the second one.
    """
    token = new_token()
    data = tomatoes(farm, token)
    email = farmer.email
    clients = [app.test_client() for _ in range(2)]
    barrier = threading.Barrier(2, timeout=30)
    held: set[int] = set()

    def hold_after_check(conn, cursor, statement, params, context, executemany):
        if "FROM harvest_submission" in statement and threading.get_ident() not in held:
            held.add(threading.get_ident())
            barrier.wait()

    results: dict[int, Any] = {}

    def send(n: int) -> None:
        # Signed in here: the test's own app context remembers the fixture's user.
        AuthActions(clients[n]).login(email)
        response = clients[n].post("/harvest/", data=data)
        follow = clients[n].get(response.headers.get("Location", "/harvest/"))
        results[n] = (response.status_code, follow.get_data(as_text=True))

    engine = db.engine
    event.listen(engine, "after_cursor_execute", hold_after_check)
    try:
        threads = [threading.Thread(target=send, args=(n,)) for n in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        event.remove(engine, "after_cursor_execute", hold_after_check)
    assert sorted(results) == [0, 1], "a request did not finish"
    assert [results[n][0] for n in range(2)] == [302, 302]
    pages = [results[n][1] for n in range(2)]
    assert sum("Recorded for" in p for p in pages) == 1
    assert sum("This form was saved already" in p for p in pages) == 1
    db.session.expire_all()
    assert counts(db) == (1, 1, 1)
    assert stored_milli(db) == 10_000
