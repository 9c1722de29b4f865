"""`flask --app app csa ...`: the same services the web uses, for scripts and cron.

Each command commits once at the end, or writes nothing and exits non-zero with a message.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import BinaryIO, NoReturn

import click
from flask.cli import AppGroup

from csa.errors import CsaError
from csa.extensions import db
from csa.models import Role

csa_cli = AppGroup("csa", help="Community-supported agriculture commands.")


def fail(exc: Exception) -> NoReturn:
    """Roll back and exit 1 with a message people can act on."""
    db.session.rollback()
    raise click.ClickException(str(exc))


@csa_cli.command("create-user")
@click.argument("email")
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.MEMBER.value,
    show_default=True,
)
@click.option("--name", default="")
@click.password_option("--password", prompt="Password", confirmation_prompt=True)
def create_user_command(email: str, role: str, name: str, password: str) -> None:
    """Create a login with a password."""
    from csa.accounts import operations as accounts

    try:
        user = accounts.create_user(email, Role(role), password=password, name=name)
    except CsaError as exc:
        fail(exc)
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email}")


@csa_cli.command("demo")
@click.option("--if-empty", is_flag=True, help="Load only into a database without users.")
def demo_command(if_empty: bool) -> None:
    """Load the demo farm (idempotent: a second run changes nothing)."""
    from csa.demo import database_is_empty, load_demo

    if if_empty and not database_is_empty():
        click.echo("The database has data already; the demo is not loaded.")
        return
    summary = load_demo()
    db.session.commit()
    click.echo(summary)


@csa_cli.command("run-jobs")
def run_jobs_command() -> None:
    """Run every due job once now, give the lease back and exit (cron); 1 if another holds it."""
    from csa.jobs import lease_holder, run_jobs_once

    report = run_jobs_once()
    if not report.acted:
        lease = lease_holder()
        who = f" ({lease.holder}, until {lease.expires_at:%Y-%m-%d %H:%M:%S} UTC)" if lease else ""
        raise click.ClickException(
            f"Another scheduler holds the lease{who}; nothing was done. "
            "Run either `csa scheduler` or `csa run-jobs` from cron, not both."
        )
    click.echo(str(report))


@csa_cli.command("offer-places")
def offer_places_command() -> None:
    """Expire unanswered offers and offer every free place to the next waiting household."""
    from csa.core.clock import utcnow
    from csa.jobs import JobReport, offer_places

    report = JobReport()
    offer_places(utcnow(), report)
    click.echo(f"Places offered: {report.offered}; offers expired: {report.expired}.")


@csa_cli.command("renewals")
@click.option("--on", "on_date", default=None, help="Act as of this farm date (YYYY-MM-DD).")
def renewals_command(on_date: str | None) -> None:
    """Send due renewal invitations and reminders, expire late ones, end undecided trials."""
    from csa.renewal.operations import run
    from csa.rounds.lifecycle import farm_today

    report = run(_iso_date(on_date) if on_date else farm_today())
    db.session.commit()
    click.echo(str(report))


@csa_cli.command("backup")
@click.argument("path", type=click.Path(path_type=Path))
def backup_command(path: Path) -> None:
    """Back up the database, sheets and secret key into the new directory PATH (online)."""
    from flask import current_app

    from csa.ops.backup import backup

    try:
        summary = backup(current_app._get_current_object(), path)  # type: ignore[attr-defined]
    except CsaError as exc:
        fail(exc)
    for note in summary.notes:
        click.echo(note, err=True)
    click.echo(f"Backed up {summary.backend} and {len(summary.files) - 1} other file(s) to {path}.")


@csa_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the data.")
def restore_command(path: Path, yes: bool) -> None:
    """Replace the database, sheets and secret key with the backup in PATH.

    Checks the backup's manifest first; refused while the app, the scheduler or a job run
    uses the instance. The replaced files are kept as *.pre-restore.
    """
    from flask import current_app

    from csa.ops.backup import read_manifest, restore

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        manifest = read_manifest(path)
        if not yes:
            click.confirm(
                f"Replace this instance's data with the {manifest['backend']} backup of "
                f"{manifest['created_at']}?",
                abort=True,
            )
        summary = restore(app, path)
    except CsaError as exc:
        fail(exc)
    click.echo(f"Restored the backup of {manifest['created_at']} from {path}.")
    for note in summary.notes:
        click.echo(note)


@csa_cli.command("deliver")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many.")
def deliver_command(limit: int | None) -> None:
    """Send the queued e-mails that are due, one per commit (safe beside the scheduler)."""
    from csa.notices.outbox import deliver

    report = deliver(limit=limit)
    click.echo(str(report))
    if report.stopped:
        raise click.ClickException(f"The mail server is unavailable: {report.stopped}")


@csa_cli.command("scheduler")
def scheduler_command() -> None:
    """Run the scheduler in the foreground: the one production process that runs jobs."""
    from flask import current_app

    from csa.jobs import run_scheduler

    run_scheduler(current_app._get_current_object())  # type: ignore[attr-defined]


@csa_cli.command("import-members")
@click.argument("file", type=click.File("rb"))
def import_members_command(file: BinaryIO) -> None:
    """Import members and memberships from a CSV file; a bad line imports nothing."""
    from csa.errors import ValidationFailed
    from csa.register.csv_io import import_members

    try:
        summary = import_members(file.read())
    except ValidationFailed as exc:
        db.session.rollback()
        click.echo(str(exc), err=True)
        for problem in exc.problems:
            if problem != str(exc):
                click.echo(problem, err=True)
        raise SystemExit(1) from None
    db.session.commit()
    click.echo(summary.message())


@csa_cli.command("export-members")
@click.option("--season", "season_name", default=None, help="Only this season (by name).")
def export_members_command(season_name: str | None) -> None:
    """Write the register as CSV to stdout, in the columns import-members reads."""
    from sqlalchemy import select

    from csa.models import Season
    from csa.register.csv_io import export_members
    from csa.register.queries import RegisterFilter, memberships_select

    flt = RegisterFilter()
    if season_name is not None:
        # Compared in Python: SQLite's lower() leaves "Ł" and "Ż" as they are.
        wanted = season_name.strip().casefold()
        seasons = db.session.scalars(select(Season))
        season = next((s for s in seasons if s.name.strip().casefold() == wanted), None)
        if season is None:
            raise click.ClickException(f"No season is called {season_name}.")
        flt.season_id = season.id
    click.echo(export_members(db.session.scalars(memberships_select(flt))), nl=False)


@csa_cli.command("crops")
def crops_command() -> None:
    """List the active crops as CSV (name,unit,step), e.g. to check names for record-harvest."""
    from csa.core.csvfile import csv_text
    from csa.core.quantity import milli_to_str
    from csa.harvest.operations import active_crops

    rows = ([c.name, c.unit, milli_to_str(c.step_milli)] for c in active_crops())
    click.echo(csv_text(["name", "unit", "step"], rows), nl=False)


@csa_cli.command("record-harvest")
@click.argument("round_date", metavar="DATE")
@click.argument("crop")
@click.argument("quantity")
@click.option("--by", "by_email", default=None, help="E-mail of the user recording it.")
def record_harvest_command(round_date: str, crop: str, quantity: str, by_email: str | None) -> None:
    """Record a harvest for the round on DATE (ISO): CROP by name, QUANTITY like 12,5 or 12.5."""
    from datetime import date

    from sqlalchemy import select

    from csa.harvest.operations import HarvestInvalid, record_harvest
    from csa.models import User
    from csa.rounds.split import round_on
    from csa.ui.formatting import format_quantity

    try:
        on_date = date.fromisoformat(round_date)
    except ValueError:
        fail(CsaError(f"{round_date!r} is not a date; write it as YYYY-MM-DD, e.g. 2027-05-04."))
    round_ = round_on(on_date)
    if round_ is None:
        fail(CsaError(f"There is no round on {on_date.isoformat()}."))
    user = None
    if by_email is not None:
        user = db.session.scalar(select(User).where(User.email == by_email.strip().lower()))
        if user is None:
            fail(CsaError(f"There is no user with the e-mail {by_email}."))
    try:
        entries = record_harvest(round_, [(crop, quantity)], user)
    except HarvestInvalid as exc:
        messages = [m for m in (exc.round_error, exc.lines_error) if m]
        messages += [m for line in exc.line_errors.values() for m in line]
        fail(CsaError("Nothing was recorded: " + " ".join(messages)))
    db.session.commit()
    for entry in entries:
        click.echo(
            f"Recorded {format_quantity(entry.quantity_milli, entry.crop.unit)} of "
            f"{entry.crop.name} for the round of {on_date.isoformat()}."
        )


def _iso_date(text: str) -> date:
    """Read a command's DATE argument, or exit 1 saying how to write it."""
    from csa.core.bounds import FIRST_DAY, LAST_DAY, day_in_range

    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        fail(CsaError(f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2027-05-04."))
        raise  # unreachable: fail() exits
    if not day_in_range(day):
        fail(
            CsaError(
                f"{day.isoformat()} is outside {FIRST_DAY.isoformat()}..{LAST_DAY.isoformat()}."
            )
        )
    return day


@csa_cli.command("add-round")
@click.argument("round_date", metavar="DATE")
def add_round_command(round_date: str) -> None:
    """Add a round by hand (logged); refused for a past date or one no active site serves."""
    from csa.rounds.lifecycle import add_round

    try:
        round_ = add_round(_iso_date(round_date), None)
    except CsaError as exc:
        fail(exc)
    db.session.commit()
    click.echo(f"Added the round of {round_.date.isoformat()} ({round_.date:%A}).")


@csa_cli.command("lock-round")
@click.argument("round_date", metavar="DATE")
def lock_round_command(round_date: str) -> None:
    """Store the round's split and lock it; a locked round is left as it is."""
    from csa.rounds.lifecycle import lock_round
    from csa.rounds.split import get_round

    try:
        round_ = get_round(_iso_date(round_date))
        locked = lock_round(round_)
    except CsaError as exc:
        fail(exc)
    db.session.commit()
    if locked:
        click.echo(f"Locked the round of {round_.date.isoformat()}; its split is stored.")
    else:
        click.echo(f"The round of {round_.date.isoformat()} was locked already; nothing changed.")


@csa_cli.command("export-round")
@click.argument("round_date", metavar="DATE")
def export_round_command(round_date: str) -> None:
    """Print the round's allocations as CSV (stored once locked, computed before)."""
    from csa.rounds.split import export_csv, get_round, round_split

    try:
        round_ = get_round(_iso_date(round_date))
    except CsaError as exc:
        fail(exc)
    click.echo(export_csv(round_split(round_)), nl=False)


@csa_cli.command("sheets")
@click.argument("round_date", metavar="DATE")
@click.option("--site", "site_name", default=None, help="Only this pickup site (by name).")
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False, writable=True),
    help="Write into this folder instead of SHEETS_DIR/<DATE>/.",
)
def sheets_command(round_date: str, site_name: str | None, out_dir: str | None) -> None:
    """Write the distribution sheets of the round on DATE (ISO) and print their paths.

    A locked round gets its stored sheets (rendered from the stored split if missing or
    if --site/--out ask for a copy); before the lock, a preview named preview-*.pdf.
    """
    from pathlib import Path

    from sqlalchemy import select

    from csa.models import PickupSite
    from csa.rounds.split import round_on
    from csa.sheets.build import export_sheets

    on_date = _iso_date(round_date)
    round_ = round_on(on_date)
    if round_ is None:
        fail(CsaError(f"There is no round on {on_date.isoformat()}."))
    site = None
    if site_name is not None:
        # Compared in Python: SQLite's lower() leaves "Ż" and "Ł" as they are.
        wanted = site_name.strip().casefold()
        sites = db.session.scalars(select(PickupSite))
        site = next((s for s in sites if s.name.strip().casefold() == wanted), None)
        if site is None:
            fail(CsaError(f"There is no pickup site called {site_name}."))
    try:
        paths = export_sheets(round_, site=site, out=Path(out_dir) if out_dir else None)
    except CsaError as exc:
        fail(exc)
    db.session.commit()
    for path in paths:
        click.echo(str(path))


# --- privacy (issue 11) ---


@csa_cli.command("anonymise")
# An Integer column's range (csa/core/bounds.py INT4_MAX): a larger id is refused by click.
@click.argument("member_id", type=click.IntRange(min=1, max=2**31 - 1))
def anonymise_command(member_id: int) -> None:
    """Remove a household's personal data after its last season (its figures stay).

    Refused, with nothing written, while one of its memberships ends today or later.
    """
    from csa.models import Member
    from csa.privacy.operations import anonymise
    from csa.rounds.lifecycle import farm_today

    member = db.session.get(Member, member_id)
    if member is None:
        fail(CsaError(f"There is no household with the id {member_id}."))
    name = member.name
    try:
        anonymise(member, None, farm_today())
    except CsaError as exc:
        fail(exc)
    db.session.commit()
    click.echo(f"Anonymised {name} (household {member_id}); its memberships and allocations stay.")


# --- bidding (issue 12) ---


@csa_cli.group("bidding")
def bidding_cli() -> None:
    """Open and settle a season's bidding round (the same operations as the web)."""


def _season_named(name: str) -> object:
    """The season called NAME (compared without case), or exit 1."""
    from sqlalchemy import select

    from csa.models import Season

    wanted = name.strip().casefold()
    season = next(
        (s for s in db.session.scalars(select(Season)) if s.name.strip().casefold() == wanted),
        None,
    )
    if season is None:
        fail(CsaError(f"No season is called {name}."))
    return season


@bidding_cli.command("open")
@click.argument("season_name", metavar="SEASON")
@click.option("--mode", type=click.Choice(["range", "single"]), required=True)
@click.option("--deadline", required=True, help="The last day pledges are taken (YYYY-MM-DD).")
def bidding_open_command(season_name: str, mode: str, deadline: str) -> None:
    """Open the next bidding round of SEASON and tell its households."""
    from csa.bidding.operations import open_round
    from csa.models import BiddingMode, Season
    from csa.rounds.lifecycle import farm_today

    season = _season_named(season_name)
    assert isinstance(season, Season)
    day = _iso_date(deadline)
    try:
        round_ = open_round(season, BiddingMode(mode), day, None, farm_today())
    except CsaError as exc:
        fail(exc)
    db.session.commit()
    click.echo(
        f"Opened bidding round {round_.number} of {season.name} ({mode}), "
        f"pledges until {day.isoformat()}."
    )


@bidding_cli.command("settle")
@click.argument("season_name", metavar="SEASON")
@click.option("--accept-shortfall", is_flag=True, help="Settle even if the pledges fall short.")
def bidding_settle_command(season_name: str, accept_shortfall: bool) -> None:
    """Settle SEASON's current bidding round: fix every membership's season price."""
    from csa.bidding.operations import current_round, settle
    from csa.core.clock import utcnow
    from csa.core.money import cents_to_str
    from csa.models import Season

    season = _season_named(season_name)
    assert isinstance(season, Season)
    round_ = current_round(season)
    if round_ is None:
        fail(CsaError(f"{season.name} has no bidding round."))
    try:
        result = settle(round_, None, utcnow(), accept_shortfall=accept_shortfall)
    except CsaError as exc:
        fail(exc)
    db.session.commit()
    click.echo(
        f"Settled bidding round {round_.number} of {season.name}: {len(result.prices)} prices, "
        f"total {cents_to_str(result.total)}, budget {cents_to_str(result.budget)}, "
        f"lambda {result.lam.numerator}/{result.lam.denominator}"
        + (f", shortfall {cents_to_str(result.shortfall)}" if result.shortfall else "")
        + (f", surplus {cents_to_str(result.surplus)}" if result.surplus else "")
        + "."
    )


# --- invoices (issue 12) ---

invoices_cli = AppGroup("invoices", help="Invoices and credit notes.")
csa_cli.add_command(invoices_cli)


@invoices_cli.command("issue")
@click.option("--until", "until", default=None, help="Issue what falls due by this date.")
def invoices_issue_command(until: str | None) -> None:
    """Issue the invoices due soon (or by --until), one commit each; twice issues nothing new."""
    from csa.invoices.operations import issue_due_invoices
    from csa.rounds.lifecycle import farm_today

    limit = _iso_date(until) if until else None
    report = issue_due_invoices(farm_today(), limit)
    if report.not_ready:
        raise click.ClickException(
            "The farm's billing profile has no legal name or IBAN yet (Money → Settings); "
            "no invoice was issued."
        )
    click.echo(str(report))
    if report.failed:
        raise click.ClickException(f"{report.failed} invoices could not be issued; see the log.")


# --- sepa (issue 12) ---

sepa_cli = AppGroup("sepa", help="SEPA direct debits.")
csa_cli.add_command(sepa_cli)


@sepa_cli.command("export")
@click.option("--until", "until", required=True, metavar="DATE", help="Invoices due up to.")
@click.option("--from", "from_", default=None, metavar="DATE", help="Invoices due from.")
@click.option("--collect-on", "collect_on", default=None, metavar="DATE", help="Collection date.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
def sepa_export_command(until: str, from_: str | None, collect_on: str | None, out: Path) -> None:
    """Write a pain.008 file of the open invoices due up to DATE of households with a
    mandate; nothing new: no file. The batch is recorded (not exported again)."""
    from csa.rounds.lifecycle import farm_today
    from csa.sepa.operations import export_batch
    from csa.sepa.rules import earliest_collection

    today = farm_today()
    due_until = _iso_date(until)
    due_from = _iso_date(from_) if from_ else None
    collect = _iso_date(collect_on) if collect_on else earliest_collection(today)
    try:
        batch = export_batch(
            collect_on=collect, due_until=due_until, due_from=due_from, by=None, today=today
        )
    except CsaError as exc:
        fail(exc)
    if batch is None:
        db.session.rollback()
        click.echo("Nothing new to collect: every open invoice due then is in a batch already.")
        return
    # Written beside the target and moved into place: never a half-written file.
    part = out.with_name(out.name + ".part")
    try:
        part.write_bytes(batch.xml.encode("utf-8"))
        part.replace(out)
    except OSError as exc:
        part.unlink(missing_ok=True)
        fail(CsaError(f"Cannot write {out}: {exc.strerror}; nothing was exported."))
    db.session.commit()
    click.echo(
        f"Wrote {out}: {batch.count} direct debits, {batch.total_cents // 100}."
        f"{batch.total_cents % 100:02d} {batch.currency}, to collect on {batch.collect_on}."
    )


# --- payments (issue 12) ---


@csa_cli.group("payments")
def payments_cli() -> None:
    """Bank statements and the accounting export."""


@payments_cli.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--format",
    "kind",
    type=click.Choice(["camt", "csv"]),
    default=None,
    help="camt XML or CSV with the saved mapping (default: recognised from the file).",
)
def payments_import_command(file: BinaryIO, kind: str | None) -> None:
    """Import a camt.053/camt.054 or CSV bank statement: one transaction, all or nothing."""
    from csa.errors import ValidationFailed
    from csa.payments.operations import import_file
    from csa.payments.statements import MAX_BYTES

    data = file.read(MAX_BYTES + 1)
    try:
        if len(data) > MAX_BYTES:
            raise ValidationFailed("The file is larger than 5 MB; nothing was imported.")
        summary = import_file(data, kind)
    except ValidationFailed as exc:
        fail(exc)
    db.session.commit()
    click.echo(summary.message())
    for reason in summary.refused:
        click.echo(reason)


@payments_cli.command("export")
@click.option("--from", "first", required=True, help="First day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, help="Last day, YYYY-MM-DD.")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None)
def payments_export_command(first: str, last: str, out: str | None) -> None:
    """Write the period's invoices, credit notes and payments as CSV (stdout by default)."""
    from csa.payments.export import export_csv

    start, end = _iso_date(first), _iso_date(last)
    if start > end:
        fail(CsaError("--from must not be after --to."))
    text = export_csv(start, end)
    if out is None:
        click.echo(text, nl=False)
    else:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"Wrote {out}.")
