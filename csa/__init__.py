"""csa: community-supported agriculture, the register, the fair split, rounds and sheets."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from logging.config import dictConfig
from pathlib import Path
from typing import Any

from flask import Flask, g, request, session
from flask_babel import format_date, format_datetime, get_locale
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from csa.config import Config, instance_secret_key
from csa.extensions import babel, csrf, db, login, migrate
from csa.ops.private import private_umask, register_private_files
from csa.ops.runlock import register_run_lock

PACKAGE = Path(__file__).resolve().parent
# A source checkout keeps templates/, static/, migrations/ and instance/ beside csa/; an
# installed wheel carries the first three inside the package (see pyproject.toml).
SOURCE_CHECKOUT = (PACKAGE.parent / "pyproject.toml").is_file()


def _folder(name: str) -> Path:
    return PACKAGE.parent / name if SOURCE_CHECKOUT else PACKAGE / name


log = logging.getLogger(__name__)


LOGGING: dict[str, Any] = {
    "version": 1,
    "formatters": {"default": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "default"}},
    "root": {"level": "INFO", "handlers": ["console"]},
    "disable_existing_loggers": False,
}


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then CSA_* variables (or test config)."""
    # Before the app exists, and here rather than at import, so importing csa
    # (a test, a tool) leaves the host's logging alone.
    dictConfig(LOGGING)
    private_umask()  # before anything writes to the instance folder (csa/ops/private.py)
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(_folder("templates")),
        static_folder=str(_folder("static")),
        # Installed, Flask's default applies: <prefix>/var/csa-instance.
        instance_path=os.environ.get("CSA_INSTANCE_PATH")
        or (str(_folder("instance")) if SOURCE_CHECKOUT else None),
    )
    register_config(app, test_config)
    register_private_files(app)
    register_run_lock(app)  # first: before the access hook, which reads the database
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_security_headers(app)
    register_template_helpers(app)
    register_commands(app)
    return app


def register_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    app.config.from_object(Config)
    Path(app.instance_path).mkdir(mode=0o700, parents=True, exist_ok=True)
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("CSA")
    else:
        app.config.update(test_config)
    # The remember-me cookie carries a login for weeks: the same flags as the session's.
    app.config.setdefault("REMEMBER_COOKIE_SECURE", app.config["SESSION_COOKIE_SECURE"])
    app.config.setdefault("REMEMBER_COOKIE_SAMESITE", app.config["SESSION_COOKIE_SAMESITE"])
    if isinstance(app.config["REMEMBER_COOKIE_DURATION"], int | float):
        app.config["REMEMBER_COOKIE_DURATION"] = timedelta(
            seconds=app.config["REMEMBER_COOKIE_DURATION"]
        )
    proxies = int(app.config["PROXY_COUNT"])
    if proxies > 0:
        # Trust X-Forwarded-For/-Proto from exactly that many proxies; without the setting
        # a client could name any address and escape the per-address throttle.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret_key(app.instance_path)
    url = app.config.get("DATABASE_URL") or app.config.get("SQLALCHEMY_DATABASE_URI")
    if not url:
        url = "sqlite:///" + str(Path(app.instance_path) / "csa.sqlite3")
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.setdefault("OUTBOX_DIR", str(Path(app.instance_path) / "outbox"))
    app.config.setdefault("SHEETS_DIR", str(Path(app.instance_path) / "sheets"))


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Foreign keys, WAL and a busy timeout on every SQLite connection."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()


def select_locale() -> str:
    """Pick the user's language; works outside a request too (jobs, CLI)."""
    from flask import current_app, has_request_context

    languages = current_app.config["LANGUAGES"]
    forced = getattr(g, "force_locale", None) if has_request_context() else None
    if forced:
        return str(forced)
    if has_request_context():
        # The person's choice wins: a signed-in login's language, else the one picked with
        # the language switch before signing in; until then the browser's (csa/ui/languages.py).
        if current_user and current_user.is_authenticated and current_user.locale in languages:
            return str(current_user.locale)
        picked = session.get("locale")
        if picked in languages:
            return str(picked)
        best = request.accept_languages.best_match(languages)
        if best:
            return str(best)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def select_timezone() -> str:
    from flask import current_app

    return str(current_app.config["TIMEZONE"])


def register_extensions(app: Flask) -> None:
    from csa import models
    from csa.ui.access import register_access
    from csa.ui.args import register_converters
    from csa.ui.inputs import register_input_filter, register_request_limits

    db.init_app(app)
    migrate.init_app(app, directory=str(_folder("migrations")))
    register_request_limits(app)  # before CSRFProtect's hook reads the form
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    login.init_app(app)
    login.login_view = "auth.login"
    login.login_message = None  # the access hook redirects; no flash noise

    @login.user_loader
    def load_user(user_id: str) -> models.User | None:
        # "id:version" (User.get_id): a cookie from before the last sign-out, password change
        # or deactivation names an old version and no longer signs anyone in.
        ident, _, version = user_id.partition(":")
        if not ident.isdigit() or not version.isdigit():
            return None
        user = db.session.get(models.User, int(ident))
        if user is None or not user.active or user.session_version != int(version):
            return None
        return user

    register_converters(app)  # before any blueprint adds an <int:...> rule
    register_input_filter(app)  # before the access check: the login form is public
    register_access(app)


def register_blueprints(app: Flask) -> None:
    from csa.accounts.account_views import bp as account_bp
    from csa.accounts.views import bp as auth_bp
    from csa.bidding.views import bp as bidding_bp
    from csa.calendar.views import bp as calendar_bp
    from csa.changes.views import bp as changes_bp
    from csa.community.views import bp as community_bp
    from csa.donations.views import bp as donations_bp
    from csa.harvest.views import bp as harvest_bp
    from csa.invoices.views import bp as invoices_bp
    from csa.main.views import bp as main_bp
    from csa.messages.views import bp as messages_bp
    from csa.money.views import bp as money_bp
    from csa.offers.views import bp as offers_bp
    from csa.partners.views import bp as partners_bp
    from csa.payments.views import bp as payments_bp
    from csa.privacy.views import bp as privacy_bp
    from csa.register.views import bp as register_bp
    from csa.reminders.views import bp as reminders_bp
    from csa.renewal.views import bp as renewal_bp
    from csa.rounds.views import bp as rounds_bp
    from csa.sepa.views import bp as sepa_bp
    from csa.setup.views import bp as setup_bp
    from csa.share.views import bp as share_bp
    from csa.sheets.views import bp as sheets_bp
    from csa.signup.views import bp as signup_bp
    from csa.waitlist.views import bp as waitlist_bp
    from csa.work.views import bp as work_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(account_bp, url_prefix="/account")
    app.register_blueprint(register_bp, url_prefix="/register")
    app.register_blueprint(setup_bp, url_prefix="/setup")
    app.register_blueprint(calendar_bp, url_prefix="/calendar")
    app.register_blueprint(harvest_bp, url_prefix="/harvest")
    app.register_blueprint(rounds_bp, url_prefix="/rounds")
    app.register_blueprint(share_bp, url_prefix="/share")
    app.register_blueprint(sheets_bp, url_prefix="/sheets")
    app.register_blueprint(waitlist_bp, url_prefix="/waitlist")
    app.register_blueprint(privacy_bp, url_prefix="/privacy")
    app.register_blueprint(signup_bp)  # /join/ (public) and /signup/ (coordinators)
    app.register_blueprint(renewal_bp, url_prefix="/renewal")
    app.register_blueprint(changes_bp, url_prefix="/changes")
    app.register_blueprint(money_bp, url_prefix="/money")
    app.register_blueprint(bidding_bp, url_prefix="/bidding")
    app.register_blueprint(invoices_bp, url_prefix="/invoices")
    app.register_blueprint(sepa_bp, url_prefix="/sepa")
    app.register_blueprint(reminders_bp, url_prefix="/reminders")
    app.register_blueprint(payments_bp, url_prefix="/payments")
    app.register_blueprint(community_bp, url_prefix="/community")
    app.register_blueprint(messages_bp, url_prefix="/messages")
    app.register_blueprint(donations_bp, url_prefix="/donations")
    app.register_blueprint(work_bp, url_prefix="/work")
    app.register_blueprint(offers_bp, url_prefix="/offers")
    app.register_blueprint(partners_bp, url_prefix="/partners")


def register_errorhandlers(app: Flask) -> None:
    from csa.ui.errors import register_error_pages

    register_error_pages(app)


def register_security_headers(app: Flask) -> None:
    from csa.ui.headers import register_security_headers as register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from csa.ui.formatting import format_clock, format_price, format_quantity, weekday_name
    from csa.ui.languages import register_language_switch
    from csa.ui.navigation import register_navigation

    register_navigation(app)
    register_language_switch(app)

    app.jinja_env.globals.update(
        format_quantity=format_quantity,
        weekday_name=weekday_name,
        get_locale=get_locale,
        format_price=format_price,
    )
    app.jinja_env.filters.update(
        date=format_date, datetime=format_datetime, time=format_clock, price=format_price
    )


def register_commands(app: Flask) -> None:
    from csa.cli import csa_cli

    app.cli.add_command(csa_cli)
