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


def test_flask_migrate_loads_only_when_a_migration_needs_it(tmp_path):
    """Starting the app imports no Alembic (csa.extensions.LazyMigrate); `flask db` works."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "CSA_INSTANCE_PATH": str(tmp_path), "CSA_SECRET_KEY": "x"}
    env["CSA_DATABASE_URL"] = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    check = "import sys, app; print([m for m in ('alembic', 'flask_migrate') if m in sys.modules])"
    started = subprocess.run(
        [sys.executable, "-c", check], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    assert started.stdout.strip() == "[]"
    flask = [sys.executable, "-m", "flask", "--app", "app", "db"]
    done = subprocess.run(
        [*flask, "upgrade"], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    current = subprocess.run(
        [*flask, "current"], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    assert "(head)" in current.stdout
    assert "setup plugin" not in current.stderr
