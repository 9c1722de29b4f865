"""What other features print on the pickup list and say on a member's rounds: the two
registries (csa/sheets/annotations.py, csa/share/notes.py) and making a locked round's
sheets again when what they print changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from csa.jobs import JobReport, refresh_sheets
from csa.models import Role, SheetRefresh
from csa.rounds.lifecycle import lock_round
from csa.share.notes import RoundNote, add_round_notes
from csa.sheets.annotations import Annotations, add_annotator, request_refresh
from csa.sheets.build import render_round_sheets, render_site_preview, round_sheet_data
from tests import test_sheets
from tests.test_sheets import text_of

# The sheets tests' farm (names in several scripts) and round, as fixtures here too.
farm = test_sheets.farm
open_round = test_sheets.open_round

HOSTILE = "<b>Gate</b> & code 1234"


def _annotate_first(farm, text: str):
    """An annotator like a feature's: one line at the top of Old Mill, one on a row."""
    member_id = farm.members[0].id

    def annotator(round_, site_ids, memberships):
        rows = {
            m.id: [f"{text} for {m.member.name}"]
            for m in memberships.values()
            if m.member_id == member_id
        }
        sites = {farm.tuesday.id: [text]} if farm.tuesday.id in site_ids else {}
        return Annotations(site_notes=sites, row_notes=rows)

    return annotator


def test_annotations_reach_the_sheet_data_and_the_printed_list(app, farm, open_round):
    add_annotator(app, _annotate_first(farm, HOSTILE))
    sheets = round_sheet_data(open_round)
    site = sheets.site(farm.tuesday.id)
    assert site.notes == [HOSTILE]
    noted = [r for r in site.rows if r.notes]
    assert [r.membership_id for r in noted] == [farm.members[0].memberships[0].id]
    pages = text_of(render_site_preview(open_round, farm.tuesday))
    assert HOSTILE in pages[0]  # escaped in the HTML, printed as typed
    assert f"{HOSTILE} for {farm.members[0].name}" in " ".join(pages)
    # The other site's list prints no note of Old Mill.
    assert all(not s.notes for s in sheets.sites if s.site_id != farm.tuesday.id)


def test_without_annotators_the_list_has_no_notes(app, farm, open_round):
    site = round_sheet_data(open_round).site(farm.tuesday.id)
    assert site.notes == []
    assert all(r.notes == "" for r in site.rows)


def test_a_change_after_the_lock_makes_the_sheets_again_once(app, db, farm, open_round):
    assert lock_round(open_round)
    render_round_sheets(open_round)
    db.session.commit()
    made = open_round.sheets_at
    add_annotator(app, _annotate_first(farm, "Swap: kohlrabi for beetroot"))
    request_refresh(open_round, now=datetime(2027, 5, 4, 8, tzinfo=UTC).replace(tzinfo=None))
    request_refresh(open_round)  # asked twice: still one request
    db.session.commit()
    assert db.session.scalar(select(SheetRefresh.round_id)) == open_round.id
    assert len(db.session.scalars(select(SheetRefresh)).all()) == 1

    report = JobReport()
    refresh_sheets(report)
    assert report.notes == ["sheets made again: 1"]
    assert db.session.scalars(select(SheetRefresh)).all() == []
    db.session.refresh(open_round)
    assert open_round.sheets_at >= made
    from csa.sheets.build import find_sheet

    pages = text_of(find_sheet(open_round, "pickup", farm.tuesday.id))
    assert "Swap: kohlrabi for beetroot" in pages[0]

    again = JobReport()
    refresh_sheets(again)
    assert again.notes == []  # nothing asked, nothing done


def test_a_request_made_while_the_sheets_render_is_kept(app, db, farm, open_round):
    assert lock_round(open_round)
    render_round_sheets(open_round)
    db.session.commit()
    request_refresh(open_round)
    db.session.commit()
    seen = db.session.scalar(select(SheetRefresh.requested_at))
    asked: list[int] = []

    def asks_again(round_, site_ids, memberships):
        # Someone asks again while the job renders: the job's DELETE names the time it saw,
        # so the newer request stays for the next run.
        if not asked:
            asked.append(1)
            request_refresh(round_, now=seen + timedelta(seconds=5))
        return Annotations()

    add_annotator(app, asks_again)
    refresh_sheets(JobReport())
    assert asked
    assert db.session.scalar(select(SheetRefresh.requested_at)) == seen + timedelta(seconds=5)


def test_no_request_before_the_lock(app, db, farm, open_round):
    request_refresh(open_round)
    db.session.commit()
    assert db.session.scalars(select(SheetRefresh)).all() == []


def test_round_notes_show_on_this_week_escaped(app, client, auth, make_user, farm, open_round):
    member = farm.members[0]

    def provider(membership, rounds):
        assert membership.member_id == member.id
        return {r.id: [RoundNote(HOSTILE, url="/share/settings", link="Act")] for r in rounds}

    add_round_notes(app, provider)
    auth.login(make_user(Role.MEMBER, member=member).email)
    html = client.get("/share/").get_data(as_text=True)
    assert "&lt;b&gt;Gate&lt;/b&gt; &amp; code 1234" in html
    assert "<b>Gate</b>" not in html
    assert 'href="/share/settings">Act</a>' in html


def test_round_notes_and_other_features_events_reach_the_calendar_feed(app, db, farm, open_round):
    from datetime import date

    from csa.calendar.extras import add_feed_events
    from csa.calendar.ical import Event

    member = farm.members[0]
    member.calendar_token = "feed-token-of-the-first-member"
    db.session.commit()

    def provider(membership, rounds):
        return {r.id: [RoundNote("Alex collects this round")] for r in rounds}

    def events(household, today):
        assert household.id == member.id
        assert isinstance(today, date)
        start = datetime(2030, 5, 4, 9, tzinfo=UTC)
        return [Event("job-1@csa", start, start + timedelta(hours=3), "Work day: weeding")]

    add_round_notes(app, provider)
    add_feed_events(app, events)
    body = (
        app.test_client().get(f"/calendar/feed/{member.calendar_token}.ics").get_data(as_text=True)
    )
    unfolded = body.replace("\r\n ", "")
    assert "DESCRIPTION:Alex collects this round" in unfolded
    assert "SUMMARY:Work day: weeding" in unfolded
    assert "UID:job-1@csa" in unfolded
