"""A farm for load tests: 1,000 members with logins and a season of history (locked rounds).

`python -m tools.loaddata DATABASE_URL [--members 1000] [--weeks 16]` builds it in an empty
database (schema by `flask db upgrade`, or create_all here when there is none). Bulk inserts
and one split per past round through csa.rounds.lifecycle.lock_round, as the scheduler
would; the last locked round gets its sheets rendered, so they can be downloaded.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import time as clock
from datetime import timedelta
from typing import Any

from werkzeug.security import generate_password_hash

PASSWORD = "load-test-password"  # noqa: S105 - test data for 127.0.0.1 only
CROPS = [
    ("Tomatoes", "kg", 50),
    ("Potatoes", "kg", 100),
    ("Carrots", "kg", 50),
    ("Onions", "kg", 50),
    ("Beetroot", "kg", 50),
    ("Kale", "bunch", 1000),
    ("Lettuce", "piece", 1000),
    ("Cucumbers", "piece", 1000),
    ("Courgettes", "piece", 1000),
    ("Leeks", "piece", 1000),
    ("Dill", "bunch", 1000),
    ("Pumpkins", "piece", 1000),
]
SITES = [("Old Mill", 1), ("Town Hall", 3)]  # Tuesday, Thursday


def member_email(i: int) -> str:
    return f"member{i}@load.example"


def farmer_email(i: int) -> str:
    return f"farmer{i}@load.example"


COORDINATOR = "coordinator@load.example"


def build(url: str, members: int = 1000, weeks: int = 16, farmers: int = 4) -> dict[str, Any]:
    """Fill an empty database; return what the load script needs (dates, counts)."""
    from sqlalchemy import insert, select

    from csa import create_app
    from csa.extensions import db
    from csa.models import (
        Crop,
        HarvestEntry,
        Member,
        Membership,
        PickupSite,
        Role,
        Round,
        Season,
        ShareType,
        User,
    )
    from csa.rounds.lifecycle import create_round, distribute_round, farm_today, lock_round
    from csa.sheets.build import render_round_sheets

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "load"})
    rng = random.Random(10)
    t0 = time.perf_counter()
    with app.app_context():
        db.create_all()
        today = farm_today()
        start = today - timedelta(weeks=weeks)
        season = Season(name=f"Season {start.year}", start=start, end=today + timedelta(weeks=12))
        types = [
            ShareType(name=n, weight_milli=w, price_cents=p)
            for n, w, p in (("Half", 500, 65000), ("Full", 1000, 120000), ("Family", 1500, 170000))
        ]
        sites = [
            PickupSite(name=n, address=f"{n} 1", weekday=wd, opens=clock(16), closes=clock(19))
            for n, wd in SITES
        ]
        for site in sites:
            site.capacity = members
        crops = [Crop(name=n, unit=u, step_milli=s) for n, u, s in CROPS]
        db.session.add_all([season, *types, *sites, *crops])
        db.session.flush()
        db.session.execute(
            insert(Member),
            [
                {"name": f"Member {i:04d}", "email": member_email(i), "calendar_token": f"l{i}"}
                for i in range(members)
            ],
        )
        member_ids = list(db.session.scalars(select(Member.id).order_by(Member.id)))
        db.session.execute(
            insert(Membership),
            [
                {
                    "member_id": mid,
                    "season_id": season.id,
                    "share_type_id": types[i % 3].id,
                    "shares": 1,
                    "site_id": sites[i % len(sites)].id,
                    "start": season.start,
                    "end": season.end,
                    "status": "active",
                }
                for i, mid in enumerate(member_ids)
            ],
        )
        # One hash for every login (each carries its salt): scrypt 1,000 times takes minutes.
        hashed = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        logins = [
            {"email": member_email(i), "role": Role.MEMBER, "member_id": mid}
            for i, mid in enumerate(member_ids)
        ]
        logins += [{"email": farmer_email(i), "role": Role.FARMER} for i in range(farmers)]
        logins.append({"email": COORDINATOR, "role": Role.COORDINATOR})
        db.session.execute(
            insert(User),
            [{"password_hash": hashed, "name": d["email"], "active": True, **d} for d in logins],
        )
        db.session.commit()

        locked = []
        day = start
        while day <= today + timedelta(days=14):
            if any(s.weekday == day.weekday() for s in sites):
                round_ = create_round(day)
                if day < today:
                    for crop in crops:
                        per_share = rng.randint(5, 40) * crop.step_milli
                        db.session.add(
                            HarvestEntry(
                                round=round_,
                                crop=crop,
                                quantity_milli=per_share * members // len(sites),
                            )
                        )
                    db.session.flush()
                    lock_round(round_)
                    distribute_round(round_, announced=True)
                    locked.append(round_)
                db.session.commit()
            day += timedelta(days=1)
        last = locked[-1]  # its sheets are rendered, for the coordinator to download
        render_round_sheets(last)
        db.session.commit()
        open_rounds = db.session.scalars(
            select(Round.date).where(Round.date > today).order_by(Round.date)
        ).all()
        info = {
            "members": members,
            "farmers": farmers,
            "locked_rounds": len(locked),
            "sheets_date": last.date.isoformat(),
            "open_rounds": [d.isoformat() for d in open_rounds],
            "seconds": round(time.perf_counter() - t0, 1),
        }
        db.session.remove()
        db.engine.dispose()
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="an empty database: sqlite:///path or postgresql://...")
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=16)
    args = parser.parse_args()
    print(build(args.url, args.members, args.weeks))


if __name__ == "__main__":
    main()
