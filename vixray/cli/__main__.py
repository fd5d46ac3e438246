"""``python -m vixray.cli``: the ``vixray`` command, re-run in ``.venv`` when this interpreter lacks its dependencies."""

import sys

from vixray.entry import ensure_dependencies

ensure_dependencies("vixray.cli")

from vixray.cli import main  # noqa: E402

sys.exit(main())
