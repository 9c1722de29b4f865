"""Distribution sheets: pickup lists, posters and the packing summary, as PDFs.

The PDFs are checked through the text pypdf extracts from them (page counts
and substrings, never exact whitespace), against the allocations stored in the database.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from datetime import date, datetime, time
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from csa.extensions import db as _db
from csa.jobs import run_due_jobs
from csa.models import (
    Allocation,
    HarvestEntry,
    Hold,
    HoldMode,
    Member,
    Membership,
    Role,
    Round,
    RoundSurplus,
)
from csa.rounds.lifecycle import lock_round
from csa.rounds.split import round_split
from csa.sheets.build import (
    find_sheet,
    render_round_sheets,
    render_site_preview,
    round_sheet_data,
    sheet_path,
    slugify,
)
from csa.sheets.pdf import FetchRefused
from csa.ui.formatting import format_clock, format_quantity
from tests.factories import add_member, make_farm

DAY = date(2027, 5, 4)  # a Tuesday: Old Mill's round
NAMES = [
    "Żaneta Wiśniewska",
    "Дмитрий Смирнов",
    "Ĳsbrand van Dijk",
    "Anna Nowak",
    "Łukasz Ćwik",
    "Zoë Brontë",
]


def norm(text: str) -> str:
    """Runs of whitespace, no-break spaces included, as one space."""
    return re.sub(r"\s+", " ", text)


def text_of(source: Path | bytes) -> list[str]:
    """The text of each page, normalised (never exact whitespace)."""
    data = source.read_bytes() if isinstance(source, Path) else source
    return [norm(page.extract_text()) for page in PdfReader(io.BytesIO(data)).pages]


def page_sizes(source: Path) -> list[tuple[float, float]]:
    reader = PdfReader(str(source))
    return [(round(float(p.mediabox.width)), round(float(p.mediabox.height))) for p in reader.pages]


def harvest(farm, round_: Round, tomatoes_milli: int = 10_030, pumpkins: int = 7) -> None:
    _db.session.add_all(
        [
            HarvestEntry(round=round_, crop=farm.tomatoes, quantity_milli=tomatoes_milli),
            HarvestEntry(round=round_, crop=farm.pumpkins, quantity_milli=pumpkins * 1000),
        ]
    )


@pytest.fixture
def farm(app, db):
    farm = make_farm()
    for i, name in enumerate(NAMES):
        add_member(farm, name=name, share_type=farm.half if i % 3 == 0 else farm.full)
    add_member(farm, name="Olga Family Kowalska", share_type=farm.family, shares=2)
    add_member(farm, name="Thursday Person", site=farm.thursday)
    db.session.commit()
    return farm


@pytest.fixture
def open_round(farm, db):
    round_ = Round(date=DAY)
    db.session.add(round_)
    db.session.flush()
    harvest(farm, round_)
    db.session.commit()
    return round_


@pytest.fixture
def locked_round(open_round, db):
    assert lock_round(open_round)
    db.session.commit()
    return open_round


def allocations_by_site_crop(round_: Round) -> dict[tuple[int, int], int]:
    rows = _db.session.execute(
        select(Membership.site_id, Allocation.crop_id, Allocation.quantity_milli)
        .join(Membership, Membership.id == Allocation.membership_id)
        .where(Allocation.round_id == round_.id)
    )
    totals: dict[tuple[int, int], int] = defaultdict(int)
    for site_id, crop_id, qty in rows:
        totals[(site_id, crop_id)] += qty
    return totals


def login(client, auth, make_user, role: Role, member=None) -> None:
    user = make_user(role, member=member)
    auth.login(user.email)


# --- the pickup list ---------------------------------------------------------------------


def test_pickup_list_lists_every_member_with_their_quantities(app, farm, locked_round):
    paths = render_round_sheets(locked_round)
    _db.session.commit()
    pickup = sheet_path(locked_round, "pickup", farm.tuesday)
    assert pickup in paths
    text = " ".join(text_of(pickup))
    split = round_split(locked_round)
    members = [m for m in split.memberships.values() if m.site_id == farm.tuesday.id]
    assert len(members) == 7
    for m in members:
        assert m.member.name in text  # non-Latin names come out intact
        for share in split.shares_of(m.id):
            if share.quantity:
                crop = split.crops[share.crop_id]
                assert f"{crop.name} {format_quantity(share.quantity, crop.unit)}" in text
    assert "Thursday Person" not in text  # Town Hall is not served on Tuesdays
    assert "Test Farm" in text
    assert "Old Mill" in text
    assert "Mill Lane 1" in text
    assert norm(f"{format_clock(time(16))}–{format_clock(time(19))}") in text


def test_members_are_sorted_by_surname(app, farm, locked_round):
    render_round_sheets(locked_round)
    text = " ".join(text_of(sheet_path(locked_round, "pickup", farm.tuesday)))
    order = [
        "Zoë Brontë",  # Brontë
        "Łukasz Ćwik",  # Ćwik sorts as Cwik
        "Ĳsbrand van Dijk",  # Dijk
        "Olga Family Kowalska",
        "Anna Nowak",
        "Żaneta Wiśniewska",  # Wisniewska
        "Дмитрий Смирнов",  # Cyrillic after Latin
    ]
    positions = [text.index(name) for name in order]
    assert positions == sorted(positions)


def test_totals_match_the_stored_allocations_exactly(app, farm, locked_round):
    render_round_sheets(locked_round)
    sheets = round_sheet_data(locked_round)
    stored = allocations_by_site_crop(locked_round)
    site = sheets.site(farm.tuesday.id)
    assert {(farm.tuesday.id, t.crop_id): t.milli for t in site.totals} == stored
    text = " ".join(text_of(sheet_path(locked_round, "pickup", farm.tuesday)))
    for t in site.totals:
        assert f"{t.crop} {t.text}" in text
        assert t.text == format_quantity(t.milli, "kg" if t.crop == "Tomatoes" else "piece")
    assert site.share_counts == [("Half", 2), ("Full", 4), ("Family", 2)]


def test_members_on_hold_are_listed_apart(app, farm, open_round, db):
    by_name = {m.name: m for m in db.session.scalars(select(Member))}
    anna = by_name["Anna Nowak"].memberships[0]
    zoe = by_name["Zoë Brontë"].memberships[0]
    db.session.add_all(
        [
            Hold(membership_id=anna.id, round_date=DAY, mode=HoldMode.DONATE),
            Hold(membership_id=zoe.id, round_date=DAY, mode=HoldMode.OTHERS),
        ]
    )
    db.session.commit()
    lock_round(open_round)
    db.session.commit()
    render_round_sheets(open_round)
    sheets = round_sheet_data(open_round)
    site = sheets.site(farm.tuesday.id)
    assert [r.name for r in site.donated] == ["Anna Nowak"]
    assert [r.name for r in site.away] == ["Zoë Brontë"]
    assert "Anna Nowak" not in [r.name for r in site.rows]
    # Donated shares still count in the site's totals (they are packed, then given away).
    stored = allocations_by_site_crop(open_round)
    assert sum(t.milli for t in site.totals) == sum(stored.values())
    assert any(t.donated_milli for t in site.totals)
    text = " ".join(text_of(sheet_path(open_round, "pickup", farm.tuesday)))
    assert "On hold, donated" in text
    assert "On hold, shared with the others" in text
    assert text.index("On hold, donated") < text.index("Anna Nowak")


def test_a_long_list_repeats_its_header_numbers_its_pages_and_never_splits_a_row(
    app, db, farm, open_round
):
    members = [
        Member(name=f"Grzegorz Żółkiewski-{i:03d}", email=f"long{i}@example.org")
        for i in range(293)  # with the 7 of the fixture: 300 at Old Mill
    ]
    db.session.add_all(members)
    db.session.flush()
    db.session.add_all(
        Membership(
            member_id=m.id,
            season_id=farm.season.id,
            share_type_id=farm.full.id,
            site_id=farm.tuesday.id,
            start=farm.season.start,
            end=farm.season.end,
        )
        for m in members
    )
    db.session.execute(
        HarvestEntry.__table__.update()
        .where(HarvestEntry.round_id == open_round.id, HarvestEntry.crop_id == farm.tomatoes.id)
        .values(quantity_milli=450_000)
    )
    db.session.commit()
    lock_round(open_round)
    db.session.commit()
    render_round_sheets(open_round)
    pages = text_of(sheet_path(open_round, "pickup", farm.tuesday))
    total = len(pages)
    assert total >= 4
    sheets = round_sheet_data(open_round)
    rows = {r.name: r for r in sheets.site(farm.tuesday.id).rows}
    assert len(rows) == 300
    seen = []
    for number, page in enumerate(pages, start=1):
        assert f"page {number} of {total}" in page
        assert "Contents" in page  # the header row, on every page
        assert "Notes" in page
        assert "Test Farm · Old Mill" in page
        for name, row in rows.items():
            if f"{name} ·" in page:
                seen.append(name)
                # The whole row is on this page: its contents came with the name.
                assert row.contents.replace("\u00a0", " ") in page
    assert sorted(seen) == sorted(rows)  # every member once, none lost between pages


# --- poster, packing summary, paper --------------------------------------------------------


def test_the_poster_is_one_page_with_each_share_type(app, farm, locked_round):
    render_round_sheets(locked_round)
    poster = sheet_path(locked_round, "poster", farm.tuesday)
    pages = text_of(poster)
    assert len(pages) == 1
    for word in ("Half", "Full", "Family", "Tomatoes", "Pumpkins", "Old Mill"):
        assert word in pages[0]
    site = round_sheet_data(locked_round).site(farm.tuesday.id)
    assert [c.share_type for c in site.poster.columns] == ["Half", "Full", "Family"]
    split = round_split(locked_round)
    # Family is only held twice by one membership: one share is half of what it got.
    family = next(m for m in split.memberships.values() if m.shares == 2)
    tomatoes = split.cell(family.id, farm.tomatoes.id)
    family_cells = dict(zip(site.poster.crops, site.poster.columns[2].cells, strict=True))
    assert family_cells["Tomatoes"].common == tomatoes.quantity // 2


def test_poster_shows_the_range_when_single_shares_differ(app, farm, open_round, db):
    db.session.execute(
        HarvestEntry.__table__.update()
        .where(HarvestEntry.round_id == open_round.id, HarvestEntry.crop_id == farm.pumpkins.id)
        .values(quantity_milli=3000)  # 3 pumpkins for 4 full shares: some get none
    )
    db.session.commit()
    lock_round(open_round)
    db.session.commit()
    site = round_sheet_data(open_round).site(farm.tuesday.id)
    full = next(c for c in site.poster.columns if c.share_type == "Full")
    cell = dict(zip(site.poster.crops, full.cells, strict=True))["Pumpkins"]
    assert (cell.low, cell.high) == (0, 1000)
    assert cell.text.replace("\u00a0", " ") == "0–1 pc"


def test_packing_summary_totals_are_the_harvest_minus_the_surplus(app, farm, locked_round):
    render_round_sheets(locked_round)
    sheets = round_sheet_data(locked_round)
    surplus = {
        s.crop_id: s
        for s in _db.session.scalars(
            select(RoundSurplus).where(RoundSurplus.round_id == locked_round.id)
        )
    }
    stored = allocations_by_site_crop(locked_round)
    text = " ".join(text_of(sheet_path(locked_round, "packing")))
    for line in sheets.packing:
        assert line.allocated == line.harvested - line.surplus
        assert line.harvested == surplus[line.crop_id].harvested_milli
        assert line.surplus == surplus[line.crop_id].surplus_milli
        assert line.allocated == sum(q for (_s, c), q in stored.items() if c == line.crop_id)
        assert line.texts["allocated"] in text
        assert line.texts["surplus"] in text
    assert "Old Mill" in text
    assert "Full 4" in text


def test_a4_by_default_and_us_letter_by_setting(app, farm, locked_round, tmp_path):
    render_round_sheets(locked_round)
    assert set(page_sizes(sheet_path(locked_round, "packing"))) == {(595, 842)}
    app.config["SHEETS_PAGE_SIZE"] = "letter"
    render_round_sheets(locked_round, force=True)
    for kind in ("packing", "pickup"):
        site = farm.tuesday if kind == "pickup" else None
        assert set(page_sizes(sheet_path(locked_round, kind, site))) == {(612, 792)}


def test_all_sites_joins_every_pickup_list(app, db, farm, open_round):
    farm.thursday.weekday = 1  # both sites serve Tuesdays now
    db.session.commit()
    lock_round(open_round)
    db.session.commit()
    paths = render_round_sheets(open_round)
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "all-sites.pdf",
            "packing.pdf",
            f"pickup-old-mill-{farm.tuesday.id}.pdf",
            f"pickup-town-hall-{farm.thursday.id}.pdf",
            f"poster-old-mill-{farm.tuesday.id}.pdf",
            f"poster-town-hall-{farm.thursday.id}.pdf",
        ]
    )
    merged = text_of(sheet_path(open_round, "all-sites"))
    parts = text_of(sheet_path(open_round, "pickup", farm.tuesday)) + text_of(
        sheet_path(open_round, "pickup", farm.thursday)
    )
    assert merged == parts
    assert "Thursday Person" in merged[-1]


def test_parallel_workers_render_what_one_process_renders(app, db, farm, open_round):
    farm.thursday.weekday = 1
    db.session.commit()
    lock_round(open_round)
    db.session.commit()
    app.config.update(SHEETS_WORKERS=1)
    serial = {p.name: text_of(p) for p in render_round_sheets(open_round, force=True)}
    app.config.update(SHEETS_WORKERS=2, SHEETS_PARALLEL_MIN_ROWS=0)
    parallel = {p.name: text_of(p) for p in render_round_sheets(open_round, force=True)}
    assert parallel == serial


def test_slugs_are_ascii():
    assert slugify("Łąka Żółta – Stara Wieś") == "laka-zolta-stara-wies"
    assert slugify("Дом") == ""


def test_the_renderer_fetches_only_our_static_files(app):
    from csa.sheets.pdf import static_fetcher, static_root

    fetcher = static_fetcher(static_root())
    assert fetcher((static_root() / "csa.css").as_uri()).read()
    for url in ("file:///etc/passwd", "http://example.com/x.png", "https://127.0.0.1/"):
        with pytest.raises(FetchRefused):
            fetcher(url)
    with pytest.raises(FetchRefused):
        fetcher((static_root() / ".." / "pyproject.toml").as_uri())


# --- when they are made ------------------------------------------------------------------


def test_the_scheduler_makes_the_sheets_when_a_round_locks(app, farm):
    run_due_jobs(datetime(2027, 5, 3, 8, 0))  # creates the coming rounds
    round_ = _db.session.scalar(select(Round).where(Round.date == DAY))
    harvest(farm, round_)
    _db.session.commit()
    assert round_.sheets_at is None
    report = run_due_jobs(datetime(2027, 5, 3, 16, 30))  # after Tuesday's cutoff
    assert report.locked == [DAY]
    _db.session.refresh(round_)
    assert round_.sheets_at is not None
    for kind in ("packing", "all-sites"):
        assert find_sheet(round_, kind) is not None
    pickup = find_sheet(round_, "pickup", farm.tuesday.id)
    assert pickup is not None
    made = pickup.stat().st_mtime_ns
    # Idempotent: a second call finds the sheets made and renders nothing.
    render_round_sheets(round_)
    assert pickup.stat().st_mtime_ns == made
    assert not list(pickup.parent.glob(".*.tmp"))  # no temporary files left behind


def test_sheets_are_refused_before_the_lock(app, open_round):
    from csa.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        render_round_sheets(open_round)


# --- the web -----------------------------------------------------------------------------


def test_download_serves_the_stored_file_and_404_before(
    app, client, auth, make_user, farm, open_round, db
):
    login(client, auth, make_user, Role.COORDINATOR)
    iso = DAY.isoformat()
    assert client.get(f"/sheets/{iso}/packing.pdf").status_code == 404
    lock_round(open_round)
    db.session.commit()
    assert client.get(f"/sheets/{iso}/packing.pdf").status_code == 404  # not rendered yet
    render_round_sheets(open_round)
    db.session.commit()
    response = client.get(f"/sheets/{iso}/packing.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data == sheet_path(open_round, "packing").read_bytes()
    response.close()
    response = client.get(f"/sheets/{iso}/pickup/{farm.tuesday.id}.pdf")
    assert response.status_code == 200
    assert "Żaneta Wiśniewska" in " ".join(text_of(response.data))
    response.close()
    assert client.get(f"/sheets/{iso}/pickup.pdf").status_code == 404  # which site?
    assert client.get(f"/sheets/{iso}/nonsense.pdf").status_code == 404
    assert client.get(f"/sheets/{iso}/poster/{farm.thursday.id}.pdf").status_code == 404
    page = client.get(f"/sheets/{iso}")
    assert page.status_code == 200
    assert f"/sheets/{iso}/pickup/{farm.tuesday.id}.pdf" in page.get_data(as_text=True)


def test_preview_renders_one_site_before_the_lock(app, client, auth, make_user, farm, open_round):
    login(client, auth, make_user, Role.FARMER)
    iso = DAY.isoformat()
    page = client.get(f"/sheets/{iso}")
    assert page.status_code == 200
    assert f"/sheets/{iso}/preview/{farm.tuesday.id}.pdf" in page.get_data(as_text=True)
    response = client.get(f"/sheets/{iso}/preview/{farm.tuesday.id}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = " ".join(text_of(response.data))
    assert "Preview" in text
    assert "Дмитрий Смирнов" in text
    assert client.get(f"/sheets/{iso}/preview/{farm.thursday.id}.pdf").status_code == 404
    assert client.get(f"/sheets/{iso}/preview/999.pdf").status_code == 404
    assert render_site_preview(open_round, farm.tuesday)[:5] == b"%PDF-"


def test_a_long_preview_is_refused_with_a_way_to_get_the_list(
    app, client, auth, make_user, farm, open_round
):
    """A site above SHEETS_PREVIEW_MAX_ROWS is not rendered inside the request."""
    login(client, auth, make_user, Role.COORDINATOR)
    iso = DAY.isoformat()
    url = f"/sheets/{iso}/preview/{farm.tuesday.id}.pdf"
    app.config["SHEETS_PREVIEW_MAX_ROWS"] = 7  # Old Mill has exactly 7 members: allowed
    assert client.get(url).mimetype == "application/pdf"
    app.config["SHEETS_PREVIEW_MAX_ROWS"] = 6
    response = client.get(url)
    assert response.status_code == 302  # no PDF: sent back to the round's sheets
    assert response.headers["Location"].endswith(f"/sheets/{iso}")
    page = client.get(f"/sheets/{iso}").get_data(as_text=True)
    assert "The pickup list of Old Mill has 7 members, too many to render" in page
    assert f"flask --app app csa sheets {iso} --site &#34;Old Mill&#34;" in page


def test_regenerate_makes_the_sheets_again(app, client, auth, make_user, farm, locked_round, db):
    render_round_sheets(locked_round)
    db.session.commit()
    first = locked_round.sheets_at
    login(client, auth, make_user, Role.COORDINATOR)
    response = client.post(f"/sheets/{DAY.isoformat()}/regenerate")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Round, locked_round.id).sheets_at > first


def test_regenerate_renders_a_big_round_in_the_background(
    app, client, auth, make_user, farm, locked_round, db
):
    from time import monotonic, sleep

    from csa.sheets.build import rendering_in_background

    app.config["SHEETS_INLINE_MAX_ROWS"] = 0  # every round counts as big
    login(client, auth, make_user, Role.COORDINATOR)
    response = client.post(f"/sheets/{DAY.isoformat()}/regenerate")
    assert response.status_code == 302
    deadline = monotonic() + 60
    while rendering_in_background(locked_round.id) and monotonic() < deadline:
        sleep(0.05)
    db.session.expire_all()
    assert db.session.get(Round, locked_round.id).sheets_at is not None
    assert find_sheet(locked_round, "packing") is not None


@pytest.mark.parametrize("role", [Role.MEMBER, None], ids=["member", "anonymous"])
def test_members_cannot_reach_the_sheets(app, client, auth, make_user, farm, locked_round, role):
    render_round_sheets(locked_round)
    _db.session.commit()
    if role is not None:
        member = _db.session.scalar(select(Member).where(Member.name == "Anna Nowak"))
        login(client, auth, make_user, role, member=member)
    iso = DAY.isoformat()
    urls = [
        f"/sheets/{iso}",
        f"/sheets/{iso}/packing.pdf",
        f"/sheets/{iso}/pickup/{farm.tuesday.id}.pdf",
        f"/sheets/{iso}/preview/{farm.tuesday.id}.pdf",
    ]
    expected = 403 if role else 302
    for url in urls:
        assert client.get(url).status_code == expected, url
    assert client.post(f"/sheets/{iso}/regenerate").status_code == expected


# --- the command line --------------------------------------------------------------------


def test_cli_writes_the_sheets_and_prints_their_paths(app, runner, farm, locked_round, tmp_path):
    result = runner.invoke(args=["csa", "sheets", DAY.isoformat()])
    assert result.exit_code == 0, result.output
    printed = [Path(line) for line in result.output.splitlines()]
    assert sheet_path(locked_round, "packing") in printed
    assert all(p.is_file() for p in printed)
    out = tmp_path / "copy"
    result = runner.invoke(
        args=["csa", "sheets", DAY.isoformat(), "--site", "old mill", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        f"pickup-old-mill-{farm.tuesday.id}.pdf",
        f"poster-old-mill-{farm.tuesday.id}.pdf",
    ]


def test_cli_previews_a_round_not_locked_yet(app, runner, farm, open_round, tmp_path):
    result = runner.invoke(args=["csa", "sheets", DAY.isoformat(), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    names = {Path(line).name for line in result.output.splitlines()}
    assert f"preview-pickup-old-mill-{farm.tuesday.id}.pdf" in names
    assert "Preview" in text_of(tmp_path / f"preview-pickup-old-mill-{farm.tuesday.id}.pdf")[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["2027-05-05"], "There is no round on 2027-05-05."),
        (["4 May"], "is not a date"),
        ([DAY.isoformat(), "--site", "Nowhere"], "There is no pickup site called Nowhere."),
        ([DAY.isoformat(), "--site", "Town Hall"], "Town Hall has no pickup in the round"),
    ],
)
def test_cli_fails_clearly(app, runner, farm, locked_round, args, message):
    result = runner.invoke(args=["csa", "sheets", *args])
    assert result.exit_code == 1
    assert message in result.output


# --- one big site, in parts; one rendering path ------------------------------------------

BIG = 260  # members at one site: three parts of at most 100 rows


@pytest.fixture
def big_site(app, db):
    """One site with BIG members, their names in many scripts, and a round on DAY."""
    farm = make_farm()
    for i in range(BIG):
        name = f"{NAMES[i % len(NAMES)].split()[0]} {NAMES[(i * 7) % len(NAMES)].split()[1]} {i}"
        add_member(farm, name=name, share_type=farm.half if i % 3 == 0 else farm.full)
    db.session.commit()
    app.config.update(SHEETS_WORKERS=2, SHEETS_PARALLEL_MIN_ROWS=0, SHEETS_PART_ROWS=100)
    return farm


def check_pickup_list(path: Path, farm, rows) -> None:
    """Every row once, in order, never split; every page: farm, site, date, its header and
    the right "page x of y" across the whole (joined) document."""
    pages = text_of(path)
    total = len(pages)
    for number, page in enumerate(pages, start=1):
        assert "Test Farm" in page
        assert "Old Mill" in page
        assert "Tuesday, May 4, 2027" in page
        assert page.rstrip().endswith(f"page {number} of {total}"), page[-60:]
        assert page.count(f"page {number} of {total}") == 1  # no part's own number under it
    found = []
    for row in rows:
        label = norm(f"{row.name} · {row.share}")
        where = [i for i, page in enumerate(pages) if label in page]
        assert len(where) == 1, label  # once in the whole list
        page = pages[where[0]]
        assert norm(f"{label} {row.contents}") in page  # the row's cells stay together
        found.append((where[0], page.index(label)))
    assert found == sorted(found)  # in the sheet's order
    with_rows = {i for i, _pos in found}
    for i in with_rows:
        assert "Member, share Contents Notes" in pages[i]  # the header repeats on each page
    assert "Totals" in pages[-1]
    assert pages[0].count("pickup list") == 1  # the heading once, on the first page


def test_a_big_site_renders_in_parts_with_page_numbers_across_the_whole(
    app, db, big_site, runner, tmp_path
):
    from csa.sheets.build import _tasks

    round_ = Round(date=DAY)
    db.session.add(round_)
    db.session.flush()
    harvest(big_site, round_, tomatoes_milli=BIG * 900, pumpkins=BIG)
    lock_round(round_)
    db.session.commit()
    with app.test_request_context():
        sheets = round_sheet_data(round_)
    rows = sheets.site(big_site.tuesday.id).rows
    assert len(rows) == BIG
    kinds = [t.kind for t in _tasks(sheets, ("pickup", "poster", "packing"), 100)]
    assert kinds.count("pickup-part") == 3  # the site's list is split across the workers
    kinds = [t.kind for t in _tasks(sheets, ("pickup", "poster", "packing"), 100, workers=2)]
    assert kinds.count("pickup-part") == 4  # as many parts for each of the two workers

    result = runner.invoke(args=["csa", "sheets", DAY.isoformat(), "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    pickup = tmp_path / "o" / f"pickup-old-mill-{big_site.tuesday.id}.pdf"
    check_pickup_list(pickup, big_site, rows)
    # The all-sites file carries the same pages, numbered the same.
    assert text_of(tmp_path / "o" / "all-sites.pdf") == text_of(pickup)


def test_cli_scheduler_and_make_again_make_the_same_files(
    app, db, big_site, runner, client, auth, make_user, tmp_path
):
    """One rendering path: `csa sheets`, the scheduler and "make again" (in the background
    for a big round) write the same files with the same text."""
    from time import monotonic, sleep

    from csa.sheets.build import rendering_in_background, stored_paths

    run_due_jobs(datetime(2027, 5, 3, 8, 0))
    round_ = _db.session.scalar(select(Round).where(Round.date == DAY))
    harvest(big_site, round_, tomatoes_milli=BIG * 900, pumpkins=BIG)
    _db.session.commit()
    assert run_due_jobs(datetime(2027, 5, 3, 16, 30)).locked == [DAY]  # scheduler renders
    scheduler = {p.name: text_of(p) for p in stored_paths(round_)}
    assert len(scheduler) == 4  # pickup, poster, packing, all-sites

    result = runner.invoke(args=["csa", "sheets", DAY.isoformat(), "--out", str(tmp_path / "c")])
    assert result.exit_code == 0, result.output
    cli = {p.name: text_of(p) for p in sorted((tmp_path / "c").glob("*.pdf"))}
    assert cli == scheduler

    for p in stored_paths(round_):
        p.unlink()
    app.config["SHEETS_INLINE_MAX_ROWS"] = 0  # big: "make again" renders in the background
    login(client, auth, make_user, Role.COORDINATOR)
    assert client.post(f"/sheets/{DAY.isoformat()}/regenerate").status_code == 302
    deadline = monotonic() + 120
    while rendering_in_background(round_.id) and monotonic() < deadline:
        sleep(0.05)
    again = {p.name: text_of(p) for p in stored_paths(round_)}
    assert again == scheduler
    rows = round_sheet_data(round_).site(big_site.tuesday.id).rows
    check_pickup_list(find_sheet(round_, "pickup", big_site.tuesday.id), big_site, rows)


def descendants(pid: int) -> set[int]:
    """The processes under `pid` (children, theirs, ...), read from /proc."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children[ppid].append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie (one nobody has reaped yet is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_killing_the_sheets_command_takes_its_workers_with_it(
    app, db, app_config, big_site, tmp_path
):
    """SIGKILL the parent of a busy pool: no worker may stay behind as an orphan."""
    import os
    import signal
    import subprocess
    import sys
    from time import monotonic, sleep

    round_ = Round(date=DAY)
    db.session.add(round_)
    db.session.flush()
    harvest(big_site, round_, tomatoes_milli=BIG * 900, pumpkins=BIG)
    lock_round(round_)
    db.session.commit()
    env = {
        **os.environ,
        "CSA_INSTANCE_PATH": str(tmp_path / "instance"),
        "CSA_DATABASE_URL": app_config["SQLALCHEMY_DATABASE_URI"],
        "CSA_SECRET_KEY": "test-secret",
        "CSA_SHEETS_WORKERS": "2",
        "CSA_SHEETS_PARALLEL_MIN_ROWS": "0",
        "CSA_SHEETS_PART_ROWS": "5",  # 52 parts: the workers stay busy for seconds
    }
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "flask", "--app", "app", "csa", "sheets", DAY.isoformat()]
    proc = subprocess.Popen(
        [*command, "--out", str(tmp_path / "o")],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    workers: set[int] = set()
    try:
        deadline = monotonic() + 60
        while len(workers) < 2 and proc.poll() is None and monotonic() < deadline:
            sleep(0.05)
            workers = {pid for pid in descendants(proc.pid) if running(pid)}
        assert len(workers) >= 2, proc.stderr.read().decode() if proc.stderr else ""
        sleep(0.5)  # the workers are rendering now, not starting
        assert proc.poll() is None, "the command finished before it could be killed"
        workers |= descendants(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        deadline = monotonic() + 5
        while any(running(pid) for pid in workers) and monotonic() < deadline:
            sleep(0.05)
        left = sorted(pid for pid in workers if running(pid))
        assert not left, f"orphan workers still running: {left}"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for pid in workers:
            if running(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.stderr:
            proc.stderr.close()
    assert not (tmp_path / "o" / "all-sites.pdf").exists()  # it really was cut short


def test_the_linker_cache_lookup_finds_what_ctypes_finds():
    """WeasyPrint's libraries are looked up in one read of `ldconfig -p` (csa.sheets.pdf);
    for the names it asks for, the answer must be ctypes' own, found or not."""
    import ctypes.util

    from csa.sheets.pdf import _linker_cache_lookup

    lookup = _linker_cache_lookup()
    assert lookup is not None  # Linux with ldconfig: here and in CI
    names = ["gobject-2.0", "pango-1.0", "pangoft2-1.0", "harfbuzz", "harfbuzz-subset"]
    names += ["fontconfig", "libpango-1.0-0", "pango-1.0-0", "no-such-library-at-all"]
    for name in names:
        assert lookup(name) == ctypes.util.find_library(name), name
    assert lookup("pango-1.0") is not None
