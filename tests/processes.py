"""Run `flask --app app ...` as a real process on a test's database and instance folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def cli_env(app_config: dict[str, Any], tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a process on the test's database, with tmp_path/instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSA_")}
    env.update(
        CSA_DATABASE_URL=app_config["SQLALCHEMY_DATABASE_URI"],
        CSA_INSTANCE_PATH=str(tmp_path / "instance"),
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def flask(*args: str, env: dict[str, str], timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def start_flask(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "app", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen) -> str:
    """Kill the process if it still runs; return what it wrote on stderr."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    return stderr
