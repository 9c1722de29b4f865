"""Flask extensions, created unbound so any module can import them without cycles."""

from typing import Any, cast

from flask_babel import Babel
from flask_login import LoginManager
from flask_migrate import Migrate
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


migrate = Migrate(render_as_batch=True)
login = LoginManager()
csrf = CSRFProtect()
babel = Babel()
