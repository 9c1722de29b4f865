"""The page that hands over an invitation: the staff's and the households' invitations alike."""

from __future__ import annotations

from flask import current_app, flash, render_template, url_for
from flask.typing import ResponseReturnValue

from csa.accounts import operations as accounts
from csa.extensions import db
from csa.models import Member, User


def show_invitation(user: User, token: str, member: Member | None = None) -> ResponseReturnValue:
    """Show the link on screen (it is never put in a URL) and e-mail it when mail is set up.

    :param member: the household the link was given for (default: the login's own).
    """
    link = url_for("auth.set_password", token=token, _external=True)
    key = accounts.mail_invitation(user, link, token) if current_app.config["MAIL_SERVER"] else None
    db.session.commit()
    # Delivered only after the commit: the business transaction never waits on the network.
    mailed, problem = accounts.deliver_now(key)
    if problem:
        flash(problem, "warning")
    return render_template(
        "auth/invite.html",
        user=user,
        link=link,
        mailed=mailed,
        member=member if member is not None else user.member,
        invite_days=accounts.invite_days(),
    )
