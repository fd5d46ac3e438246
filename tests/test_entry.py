"""``python -m vixray.evaluate`` typed as it stands with a python that lacks vixray's dependencies: it re-runs in the
project's .venv (one line says so), or says in one line to run ``make install``; never a traceback.

The bare interpreter is a fresh ``venv --without-pip``: the standard library and nothing else, like a system python.
The repository's package is copied into a fake project root, whose ``.venv/bin/python`` (when there is one) hands
over to the interpreter running these tests, which has every dependency.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from vixray.entry import REQUIRED, missing_modules

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("bare")
    venv.EnvBuilder(with_pip=False, symlinks=True).create(folder / "env")
    python = folder / "env" / "bin" / "python"
    probe = subprocess.run([python, "-c", "import polars"], capture_output=True, text=True)
    assert probe.returncode != 0, "the bare interpreter should lack polars"
    return python


def _project(root: Path, *, with_venv: bool) -> Path:
    shutil.copytree(REPO / "vixray", root / "vixray", ignore=shutil.ignore_patterns("__pycache__"))
    if with_venv:
        _venv_python(root, sys.executable)
    return root


def _venv_python(root: Path, target: str | Path) -> None:
    """A ``.venv/bin/python`` that runs ``target`` (a script: a bare link would lose target's own venv)."""
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    python = bin_dir / "python"
    python.write_text(f'#!/bin/sh\nexec "{target}" "$@"\n')
    python.chmod(0o755)


def _run(python: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIXRAY_REEXEC", "VIRTUAL_ENV")}
    # cwd is the project root, as when typed there: `python -m` finds the package in the current folder
    return subprocess.run(
        [str(python), "-m", *args], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_command_reruns_itself_in_the_project_venv(bare_python, tmp_path):
    root = _project(tmp_path, with_venv=True)
    done = _run(bare_python, root, "vixray.evaluate", "--help")
    assert done.returncode == 0, done.stderr
    first, *rest = done.stderr.splitlines()
    assert (
        first
        == f"vixray: {bare_python} lacks numpy and {len(REQUIRED) - 1} more; running this in {root / '.venv' / 'bin' / 'python'} instead"
    )
    assert "Traceback" not in done.stderr
    assert "usage: python -m vixray.evaluate" in done.stdout and "--best" in done.stdout


def test_without_a_venv_one_line_says_what_to_run(bare_python, tmp_path):
    root = _project(tmp_path, with_venv=False)
    done = _run(bare_python, root, "vixray.evaluate", "--best")
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"vixray: {bare_python} lacks vixray's dependencies (numpy, polars")
    assert (
        "run `make install` (or `make tune`)" in line
        and f"{root / '.venv' / 'bin' / 'python'} -m vixray.evaluate" in line
    )


def test_python_m_vixray_is_guarded_too(bare_python, tmp_path):
    root = _project(tmp_path, with_venv=False)
    done = _run(bare_python, root, "vixray", "data", "--data", "synthetic")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and "make install" in done.stderr


def test_a_venv_that_lacks_them_too_does_not_loop(bare_python, tmp_path):
    root = _project(tmp_path, with_venv=False)
    _venv_python(root, bare_python)  # a broken .venv: re-run once, then say what to do
    done = _run(bare_python, root, "vixray.evaluate", "--best")
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and "running this in" in lines[0] and "make install" in lines[1]


def test_this_interpreter_has_every_dependency():
    assert missing_modules() == []
