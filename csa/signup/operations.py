"""Sign-up without a login: a household's request, its confirmation by e-mail, the
coordinator's decision, and the farm's versioned contract terms.

A request's life: UNCONFIRMED (the link in the mail not followed: it counts for nothing and
no coordinator sees it) → CONFIRMED, or WAITING when its site had no free place at that
moment → APPROVED or DECLINED. Approval creates the household, the membership (WAITING on
the site's list when the site is full, csa/register/waiting.py) and the login with its
set-password invitation (csa/accounts/operations.py), and mails the household.

Every step claims the request with one conditional UPDATE on its state, so a link works
once and a request approved twice (two coordinators, a double click) makes one household.

Everything here only flushes; the view commits once.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, func, select, update

from csa.accounts import operations as accounts
from csa.core.clock import utcnow
from csa.errors import FieldError, ValidationFailed
from csa.extensions import changed_rows, db
from csa.models import (
    NOTE_MAX,
    ContractTerms,
    Member,
    Membership,
    MembershipStatus,
    PickupSite,
    Season,
    ShareType,
    SignupRequest,
    SignupState,
    User,
)
from csa.notices import mail
from csa.notices.recipients import household_recipients, keyed
from csa.register import operations as register
from csa.register import waiting
from csa.rounds.lifecycle import farm_today

STAMP_SALT = "csa-signup-stamp"
MAX_SHARES = 10  # the most shares one household asks for on the public form
TERMS_MAX = 50_000  # characters of one version of the contract terms
OPEN = (SignupState.CONFIRMED, SignupState.WAITING)  # what coordinators decide on
THROTTLE = "signup"  # the throttle's scope (csa/accounts/throttle.py)


# --- tokens and the form's time stamp ------------------------------------------------------


def hash_token(token: str) -> str:
    """The only form in which a confirmation token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _stamps() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=STAMP_SALT)


def form_stamp() -> str:
    """A signed time stamp for the form's hidden field: when the page was served."""
    return _stamps().dumps("join")


def sent_too_fast(stamp: str) -> bool:
    """True when the form came back sooner than a person fills it, or with a forged stamp."""
    try:
        _value, signed_at = _stamps().loads(stamp, return_timestamp=True)
    except (BadSignature, ValueError, TypeError):
        return True
    age = (datetime.now(signed_at.tzinfo) - signed_at).total_seconds()
    return age < float(current_app.config["SIGNUP_MIN_FILL_SECONDS"])


# --- the contract terms ------------------------------------------------------------------------


def current_terms() -> ContractTerms | None:
    """The newest version of the contract terms, or None before the first is written."""
    return db.session.scalar(select(ContractTerms).order_by(ContractTerms.version.desc()).limit(1))


def terms_history() -> list[ContractTerms]:
    return list(db.session.scalars(select(ContractTerms).order_by(ContractTerms.version.desc())))


def save_terms(text: str, acting: User | None) -> ContractTerms:
    """Add a version of the contract terms; the versions before stay as they were accepted."""
    text = text.strip()
    if not text:
        raise FieldError("text", _("Write the contract terms."))
    if len(text) > TERMS_MAX:
        raise FieldError("text", _("The terms may have at most %(num)d characters.", num=TERMS_MAX))
    latest = current_terms()
    if latest is not None and latest.text == text:
        raise FieldError("text", _("The text is the same as version %(num)d.", num=latest.version))
    version = (latest.version if latest is not None else 0) + 1
    terms = ContractTerms(version=version, text=text, created_by=acting)
    db.session.add(terms)
    db.session.flush()
    return terms


# --- what the public page offers ------------------------------------------------------------


def open_seasons() -> list[Season]:
    """Active seasons open for sign-up that have not ended, the soonest first."""
    return list(
        db.session.scalars(
            select(Season)
            .where(
                Season.active.is_(True),
                Season.signup_open.is_(True),
                Season.end >= farm_today(),
            )
            .order_by(Season.start, Season.id)
        )
    )


def offered_share_types() -> list[ShareType]:
    return list(
        db.session.scalars(
            select(ShareType).where(ShareType.active.is_(True)).order_by(ShareType.weight_milli)
        )
    )


def offered_sites() -> list[PickupSite]:
    return list(
        db.session.scalars(
            select(PickupSite).where(PickupSite.active.is_(True)).order_by(PickupSite.name)
        )
    )


# --- a request from the public form ---------------------------------------------------------


@dataclass
class SignupData:
    """What the household typed and chose on the public form."""

    name: str
    email: str
    phone: str
    address: str
    locale: str
    season_id: int | None
    share_type_id: int | None
    shares: int | None
    site_id: int | None
    terms_id: int | None  # the version shown on the page, which the box accepted


@dataclass
class Checked:
    data: SignupData
    season: Season
    share_type: ShareType
    site: PickupSite
    terms: ContractTerms


def check(data: SignupData) -> Checked:
    """Return the request's rows, or raise for the first broken rule (next to its field)."""
    name = data.name.strip()
    email = accounts.normalise_email(data.email)
    if not name:
        raise FieldError("name", _("Enter your name."))
    if not accounts.valid_email(email):
        raise FieldError("email", _("%(email)s is not an e-mail address.", email=email))
    if data.locale not in current_app.config["LANGUAGES"]:
        raise FieldError("locale", _("Choose a language."))
    season = next((s for s in open_seasons() if s.id == data.season_id), None)
    if season is None:
        raise FieldError("season", _("Choose a season open for sign-up."))
    share_type = db.session.get(ShareType, data.share_type_id or 0)
    if share_type is None or not share_type.active:
        raise FieldError("share_type", _("Choose a share type."))
    site = db.session.get(PickupSite, data.site_id or 0)
    if site is None or not site.active:
        raise FieldError("site", _("Choose a pickup site."))
    if data.shares is None or not 1 <= data.shares <= MAX_SHARES:
        raise FieldError("shares", _("Choose from 1 to %(num)d shares.", num=MAX_SHARES))
    terms = current_terms()
    if terms is None:
        raise ValidationFailed(_("The farm has not written its contract terms yet."))
    if data.terms_id != terms.id:
        raise FieldError(
            "accept_terms",
            _("The contract terms changed while you were reading: read them again, then accept."),
        )
    cleaned = SignupData(
        name=name,
        email=email,
        phone=data.phone.strip(),
        address=data.address.strip(),
        locale=data.locale,
        season_id=season.id,
        share_type_id=share_type.id,
        shares=data.shares,
        site_id=site.id,
        terms_id=terms.id,
    )
    return Checked(cleaned, season, share_type, site, terms)


def address_is_known(email: str) -> bool:
    """True when a household or a login has this e-mail already."""
    email = accounts.normalise_email(email)
    member = db.session.scalar(select(Member.id).where(func.lower(Member.email) == email))
    user = db.session.scalar(select(User.id).where(func.lower(User.email) == email))
    return member is not None or user is not None


def _max_age() -> timedelta:
    return timedelta(seconds=int(current_app.config["SIGNUP_CONFIRM_MAX_AGE_SECONDS"]))


def max_age_days() -> int:
    """How many days a confirmation link works, for the texts that say so."""
    return max(1, int(_max_age().total_seconds()) // 86400)


def submit(checked: Checked, link_for: Callable[[str], str], mail_allowed: bool) -> str | None:
    """Record a request and queue its confirmation mail; return the outbox key (None: no mail).

    The page answers the same whatever happens here: an address the farm knows gets a mail
    saying how to sign in instead of a link (and no request), a request already confirmed
    for it gets a mail saying so. `mail_allowed` False (this address was sent too many
    mails) writes and sends nothing.

    :param link_for: the confirmation URL of a token (the view knows the host).
    """
    if not mail_allowed:
        return None
    data = checked.data
    now = utcnow()
    # Requests that were never confirmed and whose link is dead count for nothing.
    changed_rows(
        delete(SignupRequest).where(
            SignupRequest.state == SignupState.UNCONFIRMED,
            SignupRequest.created_at < now - _max_age(),
        )
    )
    nonce = secrets.token_urlsafe(9)
    if address_is_known(data.email):
        return _mail(f"signup/known/{nonce}", data.email, data.locale, "signup_known", data=data)
    pending = db.session.scalar(
        select(SignupRequest).where(
            SignupRequest.email == data.email, SignupRequest.state.in_(OPEN)
        )
    )
    if pending is not None:
        return _mail(
            f"signup/pending/{nonce}", data.email, data.locale, "signup_pending", signup=pending
        )
    # A newer request replaces one not confirmed yet (its link dies with it).
    changed_rows(
        delete(SignupRequest).where(
            SignupRequest.email == data.email, SignupRequest.state == SignupState.UNCONFIRMED
        )
    )
    token = secrets.token_urlsafe(32)
    request = SignupRequest(
        name=data.name,
        email=data.email,
        phone=data.phone,
        address=data.address,
        locale=data.locale,
        season_id=checked.season.id,
        share_type_id=checked.share_type.id,
        shares=data.shares or 1,
        site_id=checked.site.id,
        terms_id=checked.terms.id,
        terms_accepted_at=now,
        privacy_accepted_at=now,
        state=SignupState.UNCONFIRMED,
        token_hash=hash_token(token),
        created_at=now,
        decline_reason="",
    )
    db.session.add(request)
    db.session.flush()
    link = link_for(token)
    return _mail(
        f"signup/confirm/{request.id}/{nonce}",  # ids of deleted requests come back
        data.email,
        data.locale,
        "signup_confirm",
        secret=[link, token],
        signup=request,
        link=link,
        days=max_age_days(),
    )


def _mail(
    key: str,
    to: str,
    locale: str,
    template: str,
    secret: list[str] | None = None,
    **context: object,
) -> str:
    """Queue one mail of this part in the reader's language; return its key."""
    with force_locale(locale):
        subject = SUBJECTS[template]()
        body = render_template(f"mail/{template}.txt", **context)
    mail.send(key, to, subject, body, redact=secret or ())
    return key


SUBJECTS: dict[str, Callable[[], str]] = {
    "signup_confirm": lambda: _("Confirm your sign-up"),
    "signup_known": lambda: _("Your sign-up: you are known here already"),
    "signup_pending": lambda: _("Your sign-up is with the farm already"),
    "signup_confirmed": lambda: _("Your sign-up is confirmed"),
    "signup_approved": lambda: _("Welcome: your membership"),
    "signup_declined": lambda: _("Your sign-up"),
}


# --- the confirmation link -------------------------------------------------------------------


def request_for_link(token: str) -> SignupRequest | None:
    """The unconfirmed request a link names, if the link is still alive."""
    if not token or len(token) > 200:
        return None
    request = db.session.scalar(
        select(SignupRequest).where(
            SignupRequest.token_hash == hash_token(token),
            SignupRequest.state == SignupState.UNCONFIRMED,
        )
    )
    if request is None or request.created_at < utcnow() - _max_age():
        return None
    return request


@dataclass
class Confirmed:
    request: SignupRequest
    approved: Approved | None  # set when the farm approves automatically


def confirm(
    token: str, link_for: Callable[[str], str], acting: User | None = None
) -> Confirmed | None:
    """Confirm a request by its link (once); None when the link is dead or used.

    A site without a free place makes the request WAITING. With SIGNUP_AUTO_APPROVE the
    request is approved at once (and the household put on the list if its site is full).

    :param link_for: the set-password URL of an invitation token, for the automatic approval.
    """
    request = request_for_link(token)
    if request is None:
        return None
    full = waiting.places_for_newcomers(request.site, request.season) == 0
    state = SignupState.WAITING if full else SignupState.CONFIRMED
    claimed = changed_rows(
        update(SignupRequest)
        .where(
            SignupRequest.id == request.id,
            SignupRequest.state == SignupState.UNCONFIRMED,
            SignupRequest.token_hash == hash_token(token),
        )
        .values(state=state, confirmed_at=utcnow(), token_hash=None)
        .execution_options(synchronize_session=False)
    )
    if not claimed:
        return None  # the same link used at the same moment elsewhere
    db.session.refresh(request)
    if current_app.config["SIGNUP_AUTO_APPROVE"]:
        try:
            with db.session.begin_nested():
                return Confirmed(request, approve(request, acting, link_for))
        except ValidationFailed:
            # Approval refused (the address became known meanwhile): the request stays
            # confirmed, for a coordinator to decide.
            db.session.refresh(request)
    _mail(
        f"signup/confirmed/{request.id}",
        request.email,
        request.locale,
        "signup_confirmed",
        signup=request,
    )
    return Confirmed(request, None)


# --- the coordinator's decision -------------------------------------------------------------


@dataclass
class Approved:
    membership: Membership
    position: int | None  # its place on the site's waiting list, when the site was full


def _claim(
    request: SignupRequest, state: SignupState, acting: User | None, **values: object
) -> None:
    """Move an open request to a decision, once; raise if it was decided already."""
    claimed = changed_rows(
        update(SignupRequest)
        .where(SignupRequest.id == request.id, SignupRequest.state.in_(OPEN))
        .values(
            state=state,
            decided_at=utcnow(),
            decided_by_id=acting.id if acting is not None else None,
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    if not claimed:
        raise ValidationFailed(_("This request was decided already; nothing changed."))
    db.session.refresh(request)


def approve(
    request: SignupRequest, acting: User | None, link_for: Callable[[str], str]
) -> Approved:
    """Create the household, its membership and its login, and mail it; once per request.

    :param link_for: the set-password URL of an invitation token.
    """
    _claim(request, SignupState.APPROVED, acting)
    season, site = request.season, request.site
    if season.end < farm_today():
        raise ValidationFailed(
            _("The season %(season)s has ended: decline this request.", season=season.name)
        )
    if address_is_known(request.email):
        raise ValidationFailed(
            _(
                "A household or a login has the e-mail %(email)s already: decline this request "
                "and add the membership in the register.",
                email=request.email,
            )
        )
    member = register.create_member(
        register.MemberData(
            name=request.name,
            email=request.email,
            phone=request.phone,
            address=request.address,
            locale=request.locale,
        )
    )
    full = waiting.places_for_newcomers(site, season) == 0
    # A newcomer joins from today when the season has begun, never backwards.
    start = max(season.start, farm_today())
    membership = register.create_membership(
        member,
        register.MembershipData(
            season=season,
            share_type=request.share_type,
            site=site,
            shares=request.shares,
            start=start,
            status=MembershipStatus.WAITING if full else MembershipStatus.ACTIVE,
        ),
    )
    membership.terms_id = request.terms_id
    membership.terms_accepted_at = request.terms_accepted_at
    request.member_id = member.id
    request.membership_id = membership.id
    db.session.flush()
    position = waiting.position(membership) if full else None
    user = accounts.invite_member(member)
    token = accounts.invite_token(user)
    accounts.mail_invitation(user, link_for(token), token)
    for to in household_recipients(member):
        _mail(
            keyed(f"signup/approved/{request.id}", to),
            to.email,
            to.locale,
            "signup_approved",
            signup=request,
            membership=membership,
            position=position,
            login=user.email,
        )
    return Approved(membership, position)


def decline(request: SignupRequest, reason: str, acting: User | None) -> None:
    """Turn a request down with a reason, which the household is mailed in its language."""
    reason = reason.strip()
    if not reason:
        raise FieldError("reason", _("Say why, for the household."))
    if len(reason) > NOTE_MAX:
        raise FieldError("reason", _("At most %(num)d characters.", num=NOTE_MAX))
    _claim(request, SignupState.DECLINED, acting, decline_reason=reason)
    _mail(
        f"signup/declined/{request.id}",
        request.email,
        request.locale,
        "signup_declined",
        signup=request,
    )
