"""Making ``python -m vixray ...`` work as typed in the repository root, with whichever ``python`` is first.

The README's ``python -m vixray.evaluate --best`` finds the package in the current folder with any interpreter, but
a system ``python`` lacks vixray's dependencies and would die in an import. :func:`ensure_dependencies` runs before
any such import and needs the standard library only: when a dependency is missing and the project's ``.venv``
exists, it runs the same command again in ``.venv`` (saying so in one line); without a ``.venv`` it says in one line
to run ``make install`` and exits with status 2. Never a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path

# import names of the dependencies a command may need before it can say anything useful
REQUIRED = ("numpy", "polars", "yaml", "scipy", "sklearn", "arch", "torch", "ray", "optuna", "plotly", "dash")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
_REEXEC = "VIXRAY_REEXEC"  # set on the re-run, so a .venv that lacks them too cannot loop
EXIT_MISSING = 2


def missing_modules(names: Sequence[str] = REQUIRED) -> list[str]:
    """The modules of ``names`` this interpreter cannot import (found without importing them)."""
    return [name for name in names if importlib.util.find_spec(name) is None]


def ensure_dependencies(module: str, *, root: Path = PROJECT_ROOT, argv: Sequence[str] | None = None) -> None:
    """Return when this interpreter has every dependency; else re-run ``python -m module argv`` in ``root/.venv``
    (this call then never returns), or print one line saying what to run and exit with status 2."""
    missing = missing_modules()
    if not missing:
        return
    args = list(sys.argv[1:] if argv is None else argv)
    venv = root / ".venv"
    python = venv / "bin" / "python"
    in_venv = Path(sys.prefix).resolve() == venv.resolve()
    named = f"{missing[0]}" + (f" and {len(missing) - 1} more" if len(missing) > 1 else "")
    if python.is_file() and not in_venv and os.environ.get(_REEXEC) != "1":
        print(f"vixray: {sys.executable} lacks {named}; running this in {python} instead", file=sys.stderr)
        sys.stderr.flush()
        os.execve(str(python), [str(python), "-m", module, *args], {**os.environ, _REEXEC: "1"})
    print(
        f"vixray: {sys.executable} lacks vixray's dependencies ({', '.join(missing)}); run `make install` "
        f"(or `make tune`) in {root} first, then `{python} -m {module}`",
        file=sys.stderr,
    )
    raise SystemExit(EXIT_MISSING)
