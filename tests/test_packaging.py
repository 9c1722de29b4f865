"""A built wheel runs on its own: installed (not editable) into a fresh virtual environment,
outside the source tree, it lists its routes, migrates, loads the demo and serves pages.

The fresh environment takes the third-party packages from the project's own virtual
environment through a path entry (a plain line in a .pth file, which does not run that
environment's own .pth files, so the editable install of csa stays out); csa itself comes
only from the wheel.
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SERVE = r"""
import re
from pathlib import Path
import csa
assert "site-packages" in csa.__file__, csa.__file__
from csa import create_app
app = create_app()
client = app.test_client()
form = client.get("/auth/login").get_data(as_text=True)
token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form).group(1)
login = client.post("/auth/login", data={"email": "member@demo.farm",
                                         "password": "harvest-demo", "csrf_token": token})
assert login.status_code == 302, login.status_code
page = client.get("/share/")
assert page.status_code == 200, page.status_code
assert b"csa.css" in page.data
css = client.get("/static/csa.css")
assert css.status_code == 200 and css.data, css.status_code
print("served", len(page.data), "bytes from", Path(csa.__file__).parent)
"""


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        cwd=out,
    )
    (found,) = out.glob("csa-*.whl")
    return found


def test_the_wheel_holds_every_package_and_its_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "csa/rounds/split.py",
        "csa/core/allocation.py",
        "csa/templates/base.html",
        "csa/templates/sheets/pickup.html",
        "csa/static/csa.css",
        "csa/migrations/env.py",
        "csa/translations/pl/LC_MESSAGES/messages.mo",
    ):
        assert expected in names
    assert not any(n.startswith(("tools/", "tests/")) for n in names)


def test_the_installed_wheel_runs_the_demo(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(target) / "zz_project_deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", target, str(wheel)],
        check=True,
    )
    run = tmp_path / "run"
    run.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CSA_", "FLASK_"))},
        "CSA_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONPATH": "",
    }
    flask = [str(python), "-m", "flask", "--app", "csa"]

    def call(*args: str) -> str:
        done = subprocess.run(
            [*args], cwd=run, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    routes = call(*flask, "routes")
    assert "share.mine" in routes
    assert "sheets.index" in routes
    call(*flask, "db", "upgrade")
    assert "Demo farm loaded" in call(*flask, "csa", "demo")
    assert "served" in call(str(python), "-c", SERVE)
