"""Recording the harvest from the field, correcting it until the round locks, and its audit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import format_date, format_datetime, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from csa.errors import ValidationFailed
from csa.extensions import db
from csa.harvest import operations as harvest
from csa.harvest.forms import HarvestForm, max_lines, new_token
from csa.harvest.operations import AlreadySaved, HarvestInvalid, HarvestPreview
from csa.models import HarvestEntry, HarvestSubmission, Round
from csa.rounds import lifecycle as rounds_svc
from csa.rounds.lifecycle import next_open_round, open_rounds
from csa.ui.access import FIELD, STAFF, roles
from csa.ui.formatting import format_quantity, unit_label
from csa.ui.forms import EmptyForm

bp = Blueprint("harvest", __name__)


def _round_from(value: Any) -> Round | None:
    """The round a form names by id, or None when the value names no round."""
    text = str(value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        return None
    return db.session.get(Round, int(text))


def _round_label(round_: Round) -> str:
    return str(format_date(round_.date, "full"))


@bp.route("/", methods=["GET", "POST"])
@roles(*FIELD)
def record() -> ResponseReturnValue:
    rounds = open_rounds()
    form = HarvestForm()
    form.round_id.choices = [(str(r.id), _round_label(r)) for r in rounds]
    line_errors: dict[int, list[str]] = {}
    lines_error = None
    status = 200
    if form.is_submitted() and form.too_many_lines():
        status = 400
        lines_error = _too_many_lines()
        flash(lines_error, "error")
    elif form.validate_on_submit():
        round_ = _round_from(form.round_id.data)
        token = str(form.submission.data)
        try:
            entries = harvest.record_harvest(round_, form.line_values(), current_user, token)
            db.session.commit()
        except AlreadySaved as exc:
            db.session.rollback()
            return _already_saved(exc.submission)
        except IntegrityError:
            # A resend running at the same moment saved this token first.
            db.session.rollback()
            earlier = harvest.find_submission(token)
            if earlier is None:
                raise
            return _already_saved(earlier)
        except HarvestInvalid as exc:
            db.session.rollback()
            if exc.round_error:
                form.round_id.errors = [exc.round_error]
            line_errors, lines_error, status = exc.line_errors, exc.lines_error, 400
            flash(_("Nothing was recorded; correct the marked lines and send again."), "error")
        else:
            assert round_ is not None
            what = ", ".join(
                f"{e.crop.name} {format_quantity(e.quantity_milli, e.crop.unit)}" for e in entries
            )
            flash(
                _("Recorded for %(date)s: %(what)s.", date=_round_label(round_), what=what),
                "success",
            )
            return redirect(url_for("harvest.record", round_id=round_.id))
    elif form.is_submitted():
        status = 400
        flash(_("The form has expired; reload the page and send it again."), "error")
    else:
        chosen = _round_from(request.args.get("round_id"))
        if chosen is None or not chosen.accepts_harvest:
            chosen = next_open_round(rounds_svc.farm_today())
        form.round_id.data = str(chosen.id) if chosen else None
    if not form.submission.data or form.submission.errors:
        form.submission.data = new_token()
    return (
        render_template(
            "harvest/record.html",
            form=form,
            rounds=rounds,
            crops=harvest.active_crops(),
            current_round=_round_from(form.round_id.data),
            line_errors=line_errors,
            lines_error=lines_error,
            unit_label=unit_label,
        ),
        status,
    )


def _too_many_lines() -> str:
    limit = max_lines()
    return ngettext(
        "At most %(num)d line in one form; nothing was recorded. Send the rest in another form.",
        "At most %(num)d lines in one form; nothing was recorded. Send the rest in another form.",
        limit,
    )


def _already_saved(submission: HarvestSubmission) -> ResponseReturnValue:
    """Answer a form sent again: that nothing was added, and its entries as they stand now
    (corrected or removed since, they show so; the audit page has every change)."""
    what = ", ".join(
        f"{e.crop.name} {format_quantity(e.quantity_milli, e.crop.unit)}"
        for e in submission.entries
    )
    flash(
        _(
            "This form was saved already, at %(when)s; nothing was recorded twice. "
            "Its entries: %(what)s.",
            when=format_datetime(submission.created_at, "short"),
            what=what or _("(the entries were removed since)"),
        ),
        "info",
    )
    return redirect(url_for("harvest.record", round_id=submission.round_id))


@bp.route("/preview")
@roles(*FIELD)
def preview() -> ResponseReturnValue:
    """The split the typed lines would give, as JSON for the form's live preview; read-only."""
    form = HarvestForm(formdata=request.args, meta={"csrf": False})
    round_ = _round_from(form.round_id.data)
    problem = harvest.round_problem(round_)
    if form.too_many_lines():
        problem = _too_many_lines()
    if problem or round_ is None:
        return {"round_id": round_.id if round_ else None, "error": problem, "crops": []}
    return _preview_json(harvest.preview_harvest(round_, form.line_values()))


def _preview_json(result: HarvestPreview) -> dict[str, Any]:
    crops = []
    for c in result.crops:
        unit = c.crop.unit
        share_types = [
            {
                "id": r.share_type.id,
                "name": r.share_type.name,
                "low_milli": r.low,
                "high_milli": r.high,
                "memberships": r.memberships,
                "text": format_quantity(r.low, unit)
                if r.low == r.high
                else f"{format_quantity(r.low)}–{format_quantity(r.high, unit)}",
            }
            for r in c.types
        ]
        rows = [
            {
                "label": _("%(share_type)s share", share_type=t["name"]),
                "value": t["text"],
            }
            for t in share_types
        ]
        if c.donated:
            rows.append({"label": _("Donated"), "value": format_quantity(c.donated, unit)})
        rows.append({"label": _("Surplus"), "value": format_quantity(c.surplus, unit)})
        if c.typed and c.recorded:
            caption = _(
                "%(crop)s: %(total)s (%(recorded)s recorded + %(typed)s typed)",
                crop=c.crop.name,
                total=format_quantity(c.total, unit),
                recorded=format_quantity(c.recorded, unit),
                typed=format_quantity(c.typed, unit),
            )
        elif c.typed:
            caption = _(
                "%(crop)s: %(total)s typed", crop=c.crop.name, total=format_quantity(c.total, unit)
            )
        else:
            caption = _(
                "%(crop)s: %(total)s recorded",
                crop=c.crop.name,
                total=format_quantity(c.total, unit),
            )
        crops.append(
            {
                "crop_id": c.crop.id,
                "name": c.crop.name,
                "unit": unit,
                "recorded_milli": c.recorded,
                "typed_milli": c.typed,
                "total_milli": c.total,
                "surplus_milli": c.surplus,
                "donated_milli": c.donated,
                "caption": caption,
                "share_types": share_types,
                "rows": rows,
            }
        )
    skipped = [
        _("Line %(num)d: %(problem)s", num=index + 1, problem=message)
        for index, messages in sorted(result.line_errors.items())
        for message in messages
    ]
    if not result.claimants:
        note = _("No membership collects a share on this date; everything is surplus.")
    else:
        note = ngettext(
            "Split among %(num)d membership. One share of each size gets:",
            "Split among %(num)d memberships. One share of each size gets:",
            result.claimants,
        )
    return {
        "round_id": result.round.id,
        "error": None,
        "claimants": result.claimants,
        "note": note,
        "empty": _("Nothing recorded or typed for this round yet."),
        "skipped": skipped,
        "crops": crops,
    }


def _plain_quantity(milli: int) -> str:
    return format_quantity(milli, grouping=False)


def _render_entries(
    round_: Round, errors: dict[int, str] | None = None, typed: dict[int, str] | None = None
) -> ResponseReturnValue:
    entries = harvest.round_entries(round_)
    totals: dict[int, int] = {}
    for entry in entries:
        totals[entry.crop_id] = totals.get(entry.crop_id, 0) + entry.quantity_milli
    crops = {e.crop_id: e.crop for e in entries}
    return (
        render_template(
            "harvest/entries.html",
            round=round_,
            entries=entries,
            totals=[(crops[cid], milli) for cid, milli in totals.items()],
            errors=errors or {},
            typed=typed or {},
            can_edit=round_.accepts_harvest,
            plain_quantity=_plain_quantity,
            unit_label=unit_label,
        ),
        400 if errors else 200,
    )


@bp.route("/round/<int:round_id>")
@roles(*FIELD)
def entries(round_id: int) -> ResponseReturnValue:
    return _render_entries(db.get_or_404(Round, round_id))


@bp.route("/entry/<int:entry_id>/edit", methods=["POST"])
@roles(*FIELD)
def edit_entry(entry_id: int) -> ResponseReturnValue:
    entry = db.get_or_404(HarvestEntry, entry_id)
    round_ = entry.round
    if not EmptyForm().validate_on_submit():
        flash(_("The form has expired; reload the page and send it again."), "error")
        return redirect(url_for("harvest.entries", round_id=round_.id))
    text = request.form.get("quantity", "")
    before = entry.quantity_milli
    try:
        harvest.update_entry(entry, text, current_user)
    except ValidationFailed as exc:
        db.session.rollback()
        return _render_entries(round_, errors={entry_id: str(exc)}, typed={entry_id: text})
    db.session.commit()
    if before != entry.quantity_milli:
        flash(
            _(
                "%(crop)s corrected: %(before)s → %(after)s.",
                crop=entry.crop.name,
                before=format_quantity(before, entry.crop.unit),
                after=format_quantity(entry.quantity_milli, entry.crop.unit),
            ),
            "success",
        )
    return redirect(url_for("harvest.entries", round_id=round_.id))


@bp.route("/entry/<int:entry_id>/remove", methods=["GET", "POST"])
@roles(*FIELD)
def remove_entry(entry_id: int) -> ResponseReturnValue:
    """Ask before removing (GET shows what would go), remove on POST."""
    entry = db.get_or_404(HarvestEntry, entry_id)
    round_ = entry.round
    back = url_for("harvest.entries", round_id=round_.id)
    problem = harvest.round_problem(round_)
    if problem:
        flash(problem, "error")
        return redirect(back)
    form = EmptyForm()
    if form.validate_on_submit():
        what = f"{entry.crop.name} {format_quantity(entry.quantity_milli, entry.crop.unit)}"
        try:
            harvest.delete_entry(entry, current_user)
        except ValidationFailed as exc:
            db.session.rollback()
            flash(str(exc), "error")
            return redirect(back)
        db.session.commit()
        flash(_("Removed: %(what)s.", what=what), "success")
        return redirect(back)
    return render_template("harvest/remove.html", entry=entry, round=round_, form=form)


@bp.route("/round/<int:round_id>/audit")
@roles(*STAFF)
def audit(round_id: int) -> ResponseReturnValue:
    round_ = db.get_or_404(Round, round_id)
    return render_template(
        "harvest/audit.html",
        round=round_,
        rows=harvest.round_audit(round_),
        events=rounds_svc.round_log(round_),
    )
