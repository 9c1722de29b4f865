"""Offered shares and swaps: the member's board of its own site and round, and the
coordinators' list of every post with a hide button.

Views are thin: check the form, call csa/offers/operations.py, commit once, flash,
redirect. A member only ever reaches posts of its own site: any other id answers 404, as
if it did not exist. Open posts on the board name nobody ("a member of your site"); the
two members of an accepted offer or swap see each other's names, the pickup list names
them all.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from csa.community.donated import add_donation_source
from csa.core.clock import utcnow
from csa.core.offers import OfferState, SwapState, Target
from csa.errors import ValidationFailed
from csa.extensions import db
from csa.models import Crop, Membership, Role, Round, ShareOffer, Swap
from csa.offers import operations as ops
from csa.offers import privacy as _privacy  # noqa: F401 - registers the download and scrubber
from csa.offers import queries
from csa.offers.forms import OfferForm, SwapForm
from csa.rounds.lifecycle import farm_today
from csa.share.notes import add_round_notes
from csa.share.queries import current_membership, membership_on
from csa.sheets.annotations import add_annotator
from csa.ui.access import STAFF, roles
from csa.ui.args import id_arg
from csa.ui.forms import EmptyForm, flash_errors, refuse

bp = Blueprint("offers", __name__)


@bp.record_once
def _register(state: object) -> None:
    app = state.app  # type: ignore[attr-defined]
    add_annotator(app, queries.annotate)
    add_round_notes(app, queries.round_notes)
    add_donation_source(app, queries.donated)


@bp.context_processor
def labels() -> dict[str, object]:
    return {
        "offer_state_labels": {
            OfferState.OPEN: _("open"),
            OfferState.ACCEPTED: _("accepted"),
            OfferState.WITHDRAWN: _("withdrawn"),
            OfferState.DONATED: _("donated"),
            OfferState.OTHERS: _("left for the others"),
        },
        "swap_state_labels": {
            SwapState.OPEN: _("open"),
            SwapState.ACCEPTED: _("accepted"),
            SwapState.WITHDRAWN: _("withdrawn"),
            SwapState.CLOSED: _("closed"),
        },
        "target_labels": {
            Target.SITE: _("the site"),
            Target.FRIEND: _("a friend"),
            Target.PARTNER: _("the food-sharing partner"),
        },
        "collector": queries.collector,
    }


def _my_membership() -> Membership | None:
    member = current_user.member
    return current_membership(member, farm_today()) if member is not None else None


def _membership_for(round_: Round) -> Membership:
    """The signed-in household's membership on a round's date, or 404."""
    member = current_user.member
    found = membership_on(member, round_.date) if member is not None else None
    if found is None:
        abort(404)
    return found


def _offer_form(round_id: int) -> OfferForm:
    # One form per round on the page: a prefix keeps the ids and names apart.
    return OfferForm(prefix=f"r{round_id}")


def _swap_form(round_id: int, board: queries.Board | None) -> SwapForm:
    form = SwapForm(prefix=f"r{round_id}")
    mine = sorted(board.my_crops.values(), key=lambda c: c.name.lower()) if board else []
    form.gives.choices = [SelectChoice(c.id, c.name) for c in mine]
    form.wants.choices = [SelectChoice(c.id, c.name) for c in (board.crops if board else [])]
    return form


def _back() -> ResponseReturnValue:
    return redirect(url_for("offers.board"))


# --- the member's board ----------------------------------------------------------------


@bp.route("/")
@roles(Role.MEMBER)
def board() -> ResponseReturnValue:
    """The offered shares and swaps at my site in my coming rounds; offer mine, accept
    another's, post a swap."""
    membership = _my_membership()
    found = queries.boards(membership, utcnow()) if membership is not None else []
    return render_template(
        "offers/board.html",
        community="offers",
        membership=membership,
        boards=[(b, _offer_form(b.round.id), _swap_form(b.round.id, b)) for b in found],
        form=EmptyForm(),
    )


@bp.route("/rounds/<int:round_id>/offer", methods=["POST"])
@roles(Role.MEMBER)
def offer(round_id: int) -> ResponseReturnValue:
    """Offer my share of a round to my site, a named friend or the partner."""
    round_ = db.get_or_404(Round, round_id)
    membership = _membership_for(round_)
    form = _offer_form(round_id)
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    target = Target(form.target.data)
    try:
        ops.offer_share(round_, membership, target, form.friend_name.data or "", utcnow())
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back()
    db.session.commit()
    done = {
        Target.SITE: _("Your share is offered to the members of your site."),
        Target.FRIEND: _("Your friend is on the pickup list for your share."),
        Target.PARTNER: _("Your share goes to the food-sharing partner. Thank you!"),
    }
    flash(done[target], "success")
    return _back()


def _own_offer(share_offer_id: int) -> ShareOffer:
    offer = db.get_or_404(ShareOffer, share_offer_id)
    if offer.membership_id != _membership_for(offer.round).id:
        abort(404)
    return offer


def _site_offer(share_offer_id: int) -> tuple[ShareOffer, Membership]:
    """An offer of my site on its round (else 404), and my membership then."""
    offer = db.get_or_404(ShareOffer, share_offer_id)
    mine = _membership_for(offer.round)
    if ops.terms_on(mine, offer.round).site_id != offer.site_id:
        abort(404)
    return offer, mine


@bp.route("/shares/<int:share_offer_id>/withdraw", methods=["POST"])
@roles(Role.MEMBER)
def withdraw_offer(share_offer_id: int) -> ResponseReturnValue:
    """Take my offer back: I collect my share after all."""
    offer = _own_offer(share_offer_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    try:
        ops.withdraw_offer(offer, utcnow())
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back()
    db.session.commit()
    flash(_("Your offer is withdrawn: you collect your share."), "success")
    return _back()


@bp.route("/shares/<int:share_offer_id>/accept", methods=["POST"])
@roles(Role.MEMBER)
def accept_offer(share_offer_id: int) -> ResponseReturnValue:
    """Collect another member's offered share (the first to accept gets it)."""
    offer, mine = _site_offer(share_offer_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    try:
        ops.accept_offer(offer, mine, utcnow())
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back()
    db.session.commit()
    flash(_("The share is yours to collect; the pickup list says so."), "success")
    return _back()


@bp.route("/rounds/<int:round_id>/swap", methods=["POST"])
@roles(Role.MEMBER)
def post_swap(round_id: int) -> ResponseReturnValue:
    """Post "my kohlrabi for your beetroot" on my site's board of a round."""
    round_ = db.get_or_404(Round, round_id)
    membership = _membership_for(round_)
    now = utcnow()
    site = ops.terms_on(membership, round_).site
    form = _swap_form(round_id, queries.board(membership, round_, site, now))
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    gives = db.session.get(Crop, form.gives.data)
    wants = db.session.get(Crop, form.wants.data)
    if gives is None or wants is None:  # pragma: no cover - the choices are crops
        abort(404)
    try:
        ops.post_swap(round_, membership, gives, wants, now)
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back()
    db.session.commit()
    flash(_("Your swap is on the board of your site."), "success")
    return _back()


def _site_swap(swap_id: int) -> tuple[Swap, Membership]:
    swap = db.get_or_404(Swap, swap_id)
    mine = _membership_for(swap.round)
    if ops.terms_on(mine, swap.round).site_id != swap.site_id:
        abort(404)
    return swap, mine


@bp.route("/swaps/<int:swap_id>/withdraw", methods=["POST"])
@roles(Role.MEMBER)
def withdraw_swap(swap_id: int) -> ResponseReturnValue:
    """Take my open swap off the board."""
    swap, mine = _site_swap(swap_id)
    if swap.membership_id != mine.id:
        abort(404)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    try:
        ops.withdraw_swap(swap, utcnow())
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back()
    db.session.commit()
    flash(_("Your swap is off the board."), "success")
    return _back()


@bp.route("/swaps/<int:swap_id>/accept", methods=["POST"])
@roles(Role.MEMBER)
def accept_swap(swap_id: int) -> ResponseReturnValue:
    """Take a swap of my site: I give the crop wanted and get the crop offered."""
    swap, mine = _site_swap(swap_id)
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return _back()
    try:
        ops.accept_swap(swap, mine, utcnow())
    except ValidationFailed as exc:
        refuse(None, exc)
        return _back()
    db.session.commit()
    flash(
        _(
            "Swap agreed: you give %(gives)s and get %(gets)s; the pickup list shows it.",
            gives=swap.wants_crop.name,
            gets=swap.gives_crop.name,
        ),
        "success",
    )
    return _back()


# --- the coordinators ------------------------------------------------------------------


@bp.route("/all")
@roles(*STAFF)
def index() -> ResponseReturnValue:
    """Every offer and swap of a round, site by site, with a hide button on each."""
    today = farm_today()
    rounds = queries.staff_rounds(today)
    chosen = id_arg("round")
    with_posts = queries.rounds_with_posts([r.id for r in rounds])
    round_ = (
        next((r for r in rounds if r.id == chosen), None)
        or next((r for r in rounds if r.date >= today and r.id in with_posts), None)
        or next((r for r in rounds if r.date >= today), rounds[-1] if rounds else None)
    )
    offers, swaps = queries.round_posts(round_) if round_ is not None else ([], [])
    return render_template(
        "offers/index.html",
        section="offers",
        rounds=rounds,
        round=round_,
        offers=offers,
        swaps=swaps,
        form=EmptyForm(),
    )


def _hide(post: ShareOffer | Swap, hidden: bool) -> ResponseReturnValue:
    back = redirect(url_for("offers.index", round=post.round_id))
    form = EmptyForm()
    if not form.validate_on_submit():
        flash_errors(form)
        return back
    ops.hide(post, hidden)
    db.session.commit()
    flash(_("The post is hidden.") if hidden else _("The post is shown again."), "success")
    return back


@bp.route("/shares/<int:share_offer_id>/hide", methods=["POST"])
@roles(*STAFF)
def hide_offer(share_offer_id: int) -> ResponseReturnValue:
    """Hide an offered share from the board (its friend's name is not printed)."""
    return _hide(db.get_or_404(ShareOffer, share_offer_id), True)


@bp.route("/shares/<int:share_offer_id>/show", methods=["POST"])
@roles(*STAFF)
def show_offer(share_offer_id: int) -> ResponseReturnValue:
    """Show a hidden offer again."""
    return _hide(db.get_or_404(ShareOffer, share_offer_id), False)


@bp.route("/swaps/<int:swap_id>/hide", methods=["POST"])
@roles(*STAFF)
def hide_swap(swap_id: int) -> ResponseReturnValue:
    """Hide a swap from the board."""
    return _hide(db.get_or_404(Swap, swap_id), True)


@bp.route("/swaps/<int:swap_id>/show", methods=["POST"])
@roles(*STAFF)
def show_swap(swap_id: int) -> ResponseReturnValue:
    """Show a hidden swap again."""
    return _hide(db.get_or_404(Swap, swap_id), False)
