"""Whole-process `flask csa sheets` timings: `python -m tools.sheetsbench [options]`.

Builds a locked round in a SQLite file under a temporary instance folder (the data
builder of tools/bench.py), then times `flask --app app csa sheets DATE --out DIR` as a
fresh subprocess each run, start-up included, and prints the median. With --juntagrico
it times juntagrico's `manage.py generate_depot_list --force --future` (the harness in
../shared/bench/juntagrico, installed by its setup.sh into $JBENCH_HOME) alternately with
ours in the same run, on the same numbers of members and sites, and prints the ratio.

    python -m tools.sheetsbench --members 1000 --sites 20 --crops 15 --runs 3 --juntagrico
    python -m tools.sheetsbench --members 1000 --sites 1 --runs 3

With --before DIR it also times the same command on another source tree of csa (its
`csa` and `app` imported from DIR, this virtualenv's packages), run for run in the same
loop, so a change is measured against the code before it under the same load:

    git archive main | tar -x -C /tmp/before
    python -m tools.sheetsbench --members 1000 --sites 1 --runs 5 --before /tmp/before
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
JUNTAGRICO_LISTS = {"depotlist": "depotlist", "all": None}


def build(instance: Path, members: int, sites: int, crops: int) -> None:
    """Write instance/config.py and a SQLite file with one locked round in it."""
    from sqlalchemy import select

    from csa import create_app
    from csa.extensions import db
    from csa.models import Round
    from csa.rounds.lifecycle import lock_round
    from tools.bench import SHEET_CROPS, _build_round

    if crops > len(SHEET_CROPS):
        raise SystemExit(f"--crops: at most {len(SHEET_CROPS)}")
    db_file = instance / "bench.sqlite3"
    (instance / "config.py").write_text(
        f"SQLALCHEMY_DATABASE_URI = {f'sqlite:///{db_file}'!r}\n"
        "SECRET_KEY = 'bench'\n"
        f"SHEETS_DIR = {str(instance / 'sheets')!r}\n"
    )
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}",
            "SECRET_KEY": "bench",
            "SHEETS_DIR": str(instance / "sheets"),
        }
    )
    with app.app_context():
        _build_round(members, sites, SHEET_CROPS[:crops])
        round_ = db.session.scalar(select(Round))
        lock_round(round_)
        db.session.commit()
        db.engine.dispose()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (the process and its workers) of one run of a command
    in a fresh process (must succeed). CPU time is printed too: this machine is shared,
    and the wall clock of a busy moment says more about the neighbours than about us."""
    c0, t0 = _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed, cpu


def juntagrico_setup(home: Path, members: int, sites: int, variant: str) -> tuple[list, dict]:
    """The juntagrico command and environment for this size (populating its DB once)."""
    project, python = home / "project", home / "venv" / "bin" / "python"
    if not python.is_file():
        raise SystemExit(f"no juntagrico in {home}: run ../shared/bench/juntagrico/setup.sh")
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    db_file = data / f"n{members}_d{sites}.sqlite3"
    env = {**os.environ, "JBENCH_DB": str(db_file), "JBENCH_OUT": str(home / "out" / "csa")}
    env.pop("JBENCH_LISTS", None)
    env.pop("JBENCH_FONT", None)
    if JUNTAGRICO_LISTS[variant]:
        env["JBENCH_LISTS"] = JUNTAGRICO_LISTS[variant]
    Path(env["JBENCH_OUT"]).mkdir(parents=True, exist_ok=True)
    if not db_file.is_file():
        shutil.copy(project / "template.sqlite3", db_file)
        subprocess.run(
            [str(python), "populate.py", "--members", str(members), "--depots", str(sites)],
            cwd=project,
            env=env,
            check=True,
            capture_output=True,
        )
    cmd = [str(python), "manage.py", "generate_depot_list", "--force", "--future"]
    return cmd, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--crops", type=int, default=15)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--juntagrico", action="store_true", help="time juntagrico alongside")
    parser.add_argument(
        "--before", type=Path, help="a source tree of csa to time alongside (the old code)"
    )
    parser.add_argument("--juntagrico-variant", choices=sorted(JUNTAGRICO_LISTS), default="all")
    parser.add_argument(
        "--juntagrico-home",
        default=os.environ.get("JBENCH_HOME", Path(tempfile.gettempdir()) / "jbench"),
        type=Path,
    )
    args = parser.parse_args()

    from tools.bench import BENCH_DATE

    with tempfile.TemporaryDirectory() as tmp:
        instance = Path(tmp) / "instance"
        instance.mkdir()
        t0 = time.perf_counter()
        build(instance, args.members, args.sites, args.crops)
        print(
            f"built {args.members} memberships at {args.sites} sites, {args.crops} crops, "
            f"locked, in {time.perf_counter() - t0:.1f} s"
        )
        flask = str(Path(sys.executable).with_name("flask"))
        out = Path(tmp) / "out"
        ours = [flask, "--app", "app", "csa", "sheets", BENCH_DATE.isoformat(), "--out", str(out)]
        env = {**os.environ, "CSA_INSTANCE_PATH": str(instance)}
        before_env = None
        if args.before is not None:
            before_dir = args.before.resolve()
            if not (before_dir / "csa" / "__init__.py").is_file():
                raise SystemExit(f"--before: no csa source tree in {before_dir}")
            before_env = {**env, "PYTHONPATH": str(before_dir)}
        theirs = None
        if args.juntagrico:
            theirs = juntagrico_setup(
                args.juntagrico_home, args.members, args.sites, args.juntagrico_variant
            )
        load = os.getloadavg()
        csa_times: list[tuple[float, float]] = []
        before_times: list[tuple[float, float]] = []
        j_times: list[tuple[float, float]] = []
        out_before = Path(tmp) / "out-before"
        before_cmd = [*ours[:-1], str(out_before)]

        def run_before() -> None:
            assert before_env is not None
            assert args.before is not None
            shutil.rmtree(out_before, ignore_errors=True)
            before_times.append(time_command(before_cmd, before_env, args.before.resolve()))

        for run in range(args.runs):
            # The old and the new code take turns going first: a neighbour's burst of work
            # then lands on each as often.
            if before_env is not None and run % 2 == 0:
                run_before()
            shutil.rmtree(out, ignore_errors=True)
            csa_times.append(time_command(ours, env, ROOT))
            if before_env is not None and run % 2 == 1:
                run_before()
            if theirs is not None:
                j_times.append(time_command(theirs[0], theirs[1], args.juntagrico_home / "project"))
        files = sorted(p.name for p in out.glob("*.pdf"))
        from pypdf import PdfReader

        pages = sum(len(PdfReader(out / f).pages) for f in files)
    after = os.getloadavg()
    ours_median = statistics.median(t for t, _c in csa_times)
    print(
        f"csa sheets, whole process: median {ours_median:.2f} s, "
        f"CPU median {statistics.median(c for _t, c in csa_times):.2f} s "
        f"(runs: {_runs(csa_times)}); {len(files)} files, {pages} pages; "
        f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, "
        f"after {after[0]:.2f}"
    )
    if before_times:
        before_median = statistics.median(t for t, _c in before_times)
        print(
            f"csa sheets of {args.before}, whole process: median {before_median:.2f} s, "
            f"CPU median {statistics.median(c for _t, c in before_times):.2f} s "
            f"(runs: {_runs(before_times)})"
        )
    if j_times:
        j_median = statistics.median(t for t, _c in j_times)
        print(
            f"juntagrico generate_depot_list ({args.juntagrico_variant}), whole process: "
            f"median {j_median:.2f} s, CPU median "
            f"{statistics.median(c for _t, c in j_times):.2f} s (runs: {_runs(j_times)}); "
            f"csa is {j_median / ours_median:.1f}x faster (wall-clock medians)"
        )
        if before_times:
            print(f"the code of {args.before}: {j_median / before_median:.1f}x faster")


def _runs(samples: list[tuple[float, float]]) -> str:
    return ", ".join(f"{t:.2f} s/CPU {c:.1f} s" for t, c in samples)


if __name__ == "__main__":
    main()
