"""Flask extensions, created unbound so any module can import them without cycles."""

import logging
from typing import Any, cast

import click
from flask import Flask
from flask_babel import Babel
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import CursorResult, Executable, MetaData
from sqlalchemy.orm import DeclarativeBase

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def changed_rows(statement: Executable) -> int:
    """Run an UPDATE or DELETE in the session and say how many rows it changed."""
    result = cast(CursorResult[Any], db.session.execute(statement))
    return result.rowcount


class LazyMigrate:
    """Flask-Migrate, imported only when something uses it (`flask db ...`, the migration
    tests, migrations/env.py): importing it loads Alembic, Mako, Pygments and every
    SQLAlchemy dialect, 0.09 s of CPU in each process that never migrates (`csa sheets`,
    the scheduler, web workers).

    `init_app` puts a stand-in at app.extensions["migrate"] and a `db` command group; the
    first attribute read from the one or command looked up in the other sets Flask-Migrate
    up for real (Migrate.init_app, which replaces both).
    """

    def __init__(self) -> None:
        self.directory = "migrations"

    def init_app(self, app: Flask, directory: str) -> None:
        self.directory = directory
        app.extensions["migrate"] = _MigrateStandIn(self, app)
        app.cli.add_command(_LazyDbCommands(self, app))

    def load(self, app: Flask) -> Any:
        """Set Flask-Migrate up on `app` (once) and return its app.extensions entry."""
        found = app.extensions.get("migrate")
        if found is None or isinstance(found, _MigrateStandIn):
            # Imported after the app set up logging now: keep Alembic's start-up INFO lines
            # out of every `flask db` command, as they were when it loaded before that.
            logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
            from flask_migrate import Migrate

            Migrate(render_as_batch=True).init_app(app, db, directory=self.directory)
        return app.extensions["migrate"]


class _MigrateStandIn:
    """app.extensions["migrate"] until first read (see LazyMigrate)."""

    def __init__(self, owner: LazyMigrate, app: Flask) -> None:
        self._owner = owner
        self._app = app

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner.load(self._app), name)


class _LazyDbCommands(click.Group):
    """`flask db`: Flask-Migrate's command group, loaded when a command is looked up."""

    def __init__(self, owner: LazyMigrate, app: Flask) -> None:
        super().__init__(name="db", help="Perform database migrations.")
        self._owner = owner
        self._app = app

    def _real(self) -> click.Group:
        self._owner.load(self._app)
        from flask_migrate.cli import db as group

        return cast(click.Group, group)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # The real group parses its own options (--directory, -x) and runs its callback.
        return self._real().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._real().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._real().get_command(ctx, cmd_name)


migrate = LazyMigrate()
login = LoginManager()
csrf = CSRFProtect()
babel = Babel()
