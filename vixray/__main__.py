"""``python -m vixray`` is the ``vixray`` command."""

import sys

from vixray.cli import main

sys.exit(main())
