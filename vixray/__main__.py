"""``python -m vixray`` is the ``vixray`` command (run in ``.venv`` when this interpreter lacks its dependencies)."""

import sys

from vixray.entry import ensure_dependencies

ensure_dependencies("vixray")

from vixray.cli import main  # noqa: E402

sys.exit(main())
