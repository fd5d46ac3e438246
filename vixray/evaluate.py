"""``python -m vixray.evaluate``: the holdout evaluation, as ``vixray evaluate``; the library is
:mod:`vixray.holdout`, whose entry point this module re-exports.

Typed as it stands in the repository root with a ``python`` that lacks vixray's dependencies, the command re-runs
itself in the project's ``.venv`` or says in one line what to run (:mod:`vixray.entry`).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

if __name__ == "__main__":  # before any import that needs vixray's dependencies
    from vixray.entry import ensure_dependencies

    ensure_dependencies("vixray.evaluate")

from vixray.holdout import DEFAULT_SEEDS, DEFAULT_TOP, Evaluation, evaluate_run  # noqa: E402

__all__ = ["DEFAULT_SEEDS", "DEFAULT_TOP", "Evaluation", "evaluate_run", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    from vixray.cli import evaluate_main

    return evaluate_main(argv)


if __name__ == "__main__":
    sys.exit(main())
