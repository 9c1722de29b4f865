"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from csa import create_app
from csa.extensions import db


def _drop_everything() -> None:
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))


def test_migrations_match_models(app_config, forget_schema):
    app = create_app(app_config)
    forget_schema()
    with app.app_context():
        _drop_everything()
        try:
            upgrade()
            with db.engine.connect() as conn:
                diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
            assert diff == []
            tables = set(inspect(db.engine).get_table_names())
            assert {"member", "membership", "round", "allocation"} <= tables
            downgrade(revision="base")
            assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        finally:
            _drop_everything()
            db.engine.dispose()
