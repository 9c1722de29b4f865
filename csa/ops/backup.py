"""`csa backup` and `csa restore`: the database, the sheets and the secrets, checked.

A backup is one directory: the database (SQLite through its online backup API, or a
`pg_dump` custom-format archive), `sheets/`, `instance/secret_key` and
`instance/config.py` when they exist, and `manifest.json` with every file's size and
SHA-256. It is written under a temporary name and renamed when whole, so a directory with
a manifest is a complete backup.

A restore checks the manifest first, refuses while the app, the scheduler or a job run
holds the instance (csa/ops/runlock.py) or the scheduler's lease row is live, and never
leaves a half-restored database: SQLite is restored into a temporary file beside the
database and renamed over it (the old file, with its -wal and -shm, is kept as
`*.pre-restore`; a stale -wal beside the new file would be replayed into it);
PostgreSQL is restored by `pg_restore` in one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from csa.core.clock import utcnow
from csa.errors import Conflict, CsaError
from csa.ops.runlock import exclusive_run_lock

log = logging.getLogger(__name__)

FORMAT = "csa-backup"
VERSION = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
SHEETS = "sheets"
# Instance files that make a restored database usable: the key that signs sessions and
# invitation links, and the instance's settings.
INSTANCE_FILES = ("secret_key", "config.py")
PRE_RESTORE = ".pre-restore"
LEASE_FREE = datetime(1970, 1, 1)


class BackupError(CsaError):
    """A backup or restore that cannot go ahead; nothing was changed."""


@dataclass
class Summary:
    backend: str
    path: Path
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# --- where things are ---------------------------------------------------------------


def _db_url(app: Flask) -> URL:
    return make_url(app.config["SQLALCHEMY_DATABASE_URI"])


def _backend(url: URL) -> str:
    name = url.get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"Backups cover SQLite and PostgreSQL, not {name}.")
    return name


def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("An in-memory SQLite database cannot be backed up or restored.")
    return Path(url.database).resolve()


def _sheets_dir(app: Flask) -> Path:
    return Path(app.config["SHEETS_DIR"])


# --- files ----------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.copytree(src, dest, copy_function=shutil.copyfile)


def _safe_relative(name: str) -> bool:
    path = Path(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts


# --- PostgreSQL tools -------------------------------------------------------------------


def _pg_target(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password (it goes in the environment, not in `ps`)."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _tool_major(tool: str) -> int:
    exe = shutil.which(tool)
    if exe is None:
        raise BackupError(
            f"{tool} is not installed; install the Debian package postgresql-client "
            "of the server's major version."
        )
    # A program found on PATH by its fixed name, with a fixed argument.
    out = subprocess.run(  # noqa: S603
        [exe, "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"\)\s+(\d+)", out)
    if match is None:
        raise BackupError(f"Cannot read the version of {tool}: {out.strip()}")
    return int(match.group(1))


def _engine(url: URL) -> Any:
    return create_engine(url, poolclass=NullPool)


def _server_major(url: URL) -> int:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    finally:
        engine.dispose()


def _check_tool_matches(tool: str, server: int) -> None:
    major = _tool_major(tool)
    if major != server:
        raise BackupError(
            f"{tool} is version {major} but the server runs PostgreSQL {server}; "
            f"install the client tools of version {server}."
        )


def _run(cmd: list[str], env: dict[str, str]) -> None:
    # The PostgreSQL tools found on PATH; the arguments are the configured URL and our paths.
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BackupError(f"{Path(cmd[0]).name} failed: {result.stderr.strip()}")


# --- backup ---------------------------------------------------------------------------


def backup(app: Flask, dest: Path) -> Summary:
    """Write a complete backup directory at dest (which must not exist or be empty)."""
    url = _db_url(app)
    backend = _backend(url)
    dest = dest.resolve()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} exists and is not an empty directory; choose a new path.")
    work = dest.with_name(f".{dest.name}.partial-{os.getpid()}")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(mode=0o700, parents=True)
    summary = Summary(backend=backend, path=dest)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": utcnow().isoformat(timespec="seconds") + "Z",
        "backend": backend,
        "postgres_major": None,
        "files": [],
    }
    try:
        if backend == "sqlite":
            _backup_sqlite(_sqlite_path(url), work / SQLITE_FILE)
        else:
            manifest["postgres_major"] = _backup_postgres(url, work / PG_FILE)
        sheets = _sheets_dir(app)
        if sheets.is_dir():
            _copy_tree(sheets, work / SHEETS)
        for name in INSTANCE_FILES:
            source = Path(app.instance_path) / name
            if source.is_file():
                (work / "instance").mkdir(mode=0o700, exist_ok=True)
                shutil.copyfile(source, work / "instance" / name)
        if not (work / "instance" / "secret_key").is_file():
            summary.notes.append(
                "No instance/secret_key: the secret key comes from the environment "
                "(CSA_SECRET_KEY); keep it safe apart from this backup."
            )
        for path in sorted(p for p in work.rglob("*") if p.is_file()):
            os.chmod(path, 0o600)
            name = path.relative_to(work).as_posix()
            manifest["files"].append(
                {"path": name, "size": path.stat().st_size, "sha256": _sha256(path)}
            )
            summary.files.append(name)
            _fsync(path)
        for folder in [work, *(p for p in work.rglob("*") if p.is_dir())]:
            os.chmod(folder, 0o700)
        (work / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
        os.chmod(work / MANIFEST, 0o600)
        _fsync(work / MANIFEST)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        work.rename(dest)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return summary


def _backup_sqlite(source: Path, target: Path) -> None:
    """Copy a consistent snapshot with the online backup API (never the file itself)."""
    if not source.is_file():
        raise BackupError(f"There is no database at {source}.")
    src = sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        # One self-contained file: no -wal beside the backup.
        dst.execute("PRAGMA journal_mode=DELETE")
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"The backup copy fails SQLite's integrity check: {check}")
    finally:
        dst.close()
        src.close()


def _backup_postgres(url: URL, target: Path) -> int:
    server = _server_major(url)
    _check_tool_matches("pg_dump", server)
    uri, env = _pg_target(url)
    _run([str(shutil.which("pg_dump")), "--format=custom", f"--file={target}", uri], env)
    return server


# --- restore --------------------------------------------------------------------------


def read_manifest(source: Path) -> dict[str, Any]:
    """Load the manifest and check every file it lists against its size and SHA-256."""
    path = source / MANIFEST
    if not path.is_file():
        raise BackupError(f"{source} has no {MANIFEST}: it is not a complete csa backup.")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except ValueError as exc:
        raise BackupError(f"{path} is not valid JSON: {exc}") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{path} is not a csa backup manifest of version {VERSION}.")
    problems = []
    for entry in manifest.get("files", []):
        name = str(entry.get("path", ""))
        if not _safe_relative(name):
            problems.append(f"{name!r}: not a path inside the backup")
            continue
        file = source / name
        if not file.is_file():
            problems.append(f"{name}: missing")
        elif file.stat().st_size != entry.get("size") or _sha256(file) != entry.get("sha256"):
            problems.append(f"{name}: checksum does not match")
    # Nothing may ride along that the manifest does not vouch for (a restore copies sheets/
    # and instance/ whole), and no symbolic link may point out of the backup.
    listed = {str(e.get("path", "")) for e in manifest.get("files", [])} | {MANIFEST}
    for path in sorted(source.rglob("*")):
        name = path.relative_to(source).as_posix()
        if path.is_symlink():
            problems.append(f"{name}: a symbolic link")
        elif path.is_file() and name not in listed:
            problems.append(f"{name}: not in the manifest")
    database = SQLITE_FILE if manifest.get("backend") == "sqlite" else PG_FILE
    if database not in {e.get("path") for e in manifest.get("files", [])}:
        problems.append(f"{database}: not in the manifest")
    if problems:
        raise BackupError("The backup is damaged; nothing was restored: " + "; ".join(problems))
    return manifest


def restore(app: Flask, source: Path) -> Summary:
    """Replace the database, sheets and instance files with the backup at source."""
    from csa.extensions import db

    source = source.resolve()
    url = _db_url(app)
    backend = _backend(url)
    manifest = read_manifest(source)
    if manifest["backend"] != backend:
        raise BackupError(
            f"This is a {manifest['backend']} backup; the configured database is {backend}."
        )
    summary = Summary(backend=backend, path=source, files=[e["path"] for e in manifest["files"]])
    # Nothing of this process may keep the database open across the swap.
    db.session.remove()
    db.engine.dispose()
    with exclusive_run_lock(app):
        _refuse_if_lease_held(url)
        # Copies of the sheets and instance files first, beside their targets, so that
        # once the database is swapped only renames remain.
        staged: list[tuple[Path, Path]] = []
        try:
            if (source / SHEETS).is_dir():
                staged.append((_stage_dir(source / SHEETS, _sheets_dir(app)), _sheets_dir(app)))
            for name in INSTANCE_FILES:
                if (source / "instance" / name).is_file():
                    target = Path(app.instance_path) / name
                    staged.append((_stage_file(source / "instance" / name, target), target))
            if backend == "sqlite":
                _restore_sqlite(source / SQLITE_FILE, _sqlite_path(url))
            else:
                _restore_postgres(source / PG_FILE, url, int(manifest["postgres_major"]))
            for tmp, target in staged:
                _swap_in(tmp, target)
        finally:
            for tmp, _target in staged:
                if tmp.is_dir():
                    shutil.rmtree(tmp, ignore_errors=True)
                else:
                    tmp.unlink(missing_ok=True)
    summary.notes.append(
        "Run `flask --app app db upgrade` before starting the app, in case the backup "
        "predates a migration."
    )
    return summary


def _refuse_if_lease_held(url: URL) -> None:
    """Refuse while a scheduler's lease is live, on this machine or another."""
    if url.get_backend_name() == "sqlite" and not _sqlite_path(url).exists():
        return
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            if url.get_backend_name() == "postgresql":
                others = conn.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                ).scalar_one()
                if others:
                    raise Conflict(
                        f"{others} other session(s) are connected to the database; stop the "
                        "app, the scheduler and any psql session, then restore."
                    )
            try:
                row = conn.execute(
                    text("SELECT holder, expires_at FROM lease WHERE name = 'scheduler'")
                ).first()
            except SQLAlchemyError:
                return  # no lease table: nothing has ever run on this database
    finally:
        engine.dispose()
    if row is None:
        return
    holder, expires_at = row
    if isinstance(expires_at, str):
        expires_at = datetime.fromisoformat(expires_at)
    if expires_at > utcnow():
        raise Conflict(
            f"The scheduler {holder} holds the lease until {expires_at:%Y-%m-%d %H:%M:%S} "
            "UTC; stop it (it gives the lease back), then restore."
        )


def _restore_sqlite(backup_file: Path, target: Path) -> None:
    """Restore into a temporary file beside the database, then rename it over the database."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.restore-{os.getpid()}")
    try:
        conn = sqlite3.connect(f"{backup_file.as_uri()}?mode=ro", uri=True)
        dst = sqlite3.connect(tmp)
        try:
            conn.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            check = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"The backed-up database fails SQLite's check: {check}")
            _free_lease(dst)
            dst.commit()
        finally:
            dst.close()
            conn.close()
        os.chmod(tmp, 0o600)
        _fsync(tmp)
        # Keep the replaced database whole, with its -wal and -shm, under another name; a
        # -wal left beside the restored file would be replayed into it at the next open.
        kept = target.with_name(target.name + PRE_RESTORE)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{kept}{suffix}").unlink(missing_ok=True)
        if target.exists():
            os.link(target, kept)
        for suffix in ("-wal", "-shm"):
            side = Path(f"{target}{suffix}")
            if side.exists():
                os.replace(side, f"{kept}{suffix}")
        os.replace(tmp, target)
        _fsync(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _free_lease(conn: sqlite3.Connection) -> None:
    """The backup may carry the lease of the scheduler that ran then; it is not running now."""
    with contextlib.suppress(sqlite3.OperationalError):  # no lease table in this backup
        # In the text form SQLAlchemy stores DateTime in on SQLite.
        conn.execute("UPDATE lease SET expires_at = ?", (f"{LEASE_FREE:%Y-%m-%d %H:%M:%S.%f}",))


def _restore_postgres(archive: Path, url: URL, backup_major: int) -> None:
    server = _server_major(url)
    if server != backup_major:
        raise BackupError(
            f"The backup was made from PostgreSQL {backup_major}; this server runs {server}. "
            "Restore it into a server of the same major version."
        )
    _check_tool_matches("pg_restore", server)
    uri, env = _pg_target(url)
    pg_restore = str(shutil.which("pg_restore"))
    _run([pg_restore, "--list", str(archive)], env)  # a readable archive, before any change
    # One transaction: the database is either the backup's whole or unchanged.
    _run(
        [
            pg_restore,
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            f"--dbname={uri}",
            str(archive),
        ],
        env,
    )
    engine = _engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE lease SET expires_at = :t"), {"t": LEASE_FREE})
    finally:
        engine.dispose()


def _staging(target: Path) -> Path:
    return target.with_name(f".{target.name}.restore-{os.getpid()}")


def _stage_file(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _staging(target)
    shutil.copyfile(source, tmp)
    os.chmod(tmp, 0o600)
    _fsync(tmp)
    return tmp


def _stage_dir(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _staging(target)
    shutil.rmtree(tmp, ignore_errors=True)
    _copy_tree(source, tmp)
    return tmp


def _swap_in(tmp: Path, target: Path) -> None:
    """Rename the staged copy over target, keeping the old one as *.pre-restore."""
    kept = target.with_name(target.name + PRE_RESTORE)
    if target.exists():
        if kept.is_dir():
            shutil.rmtree(kept)
        os.replace(target, kept)
    os.replace(tmp, target)
