"""`flask --app app csa ...`: the same services the web uses, for scripts and cron.

Each command commits once at the end, or writes nothing and exits non-zero with a message.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup

from csa.errors import CsaError
from csa.extensions import db
from csa.models import Role

csa_cli = AppGroup("csa", help="Community-supported agriculture commands.")


def fail(exc: Exception) -> None:
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
    from csa.services import accounts

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
