"""``python -m swapgate_cli``: the same as the ``swapgate`` console script."""

import sys

from swapgate_cli.main import main

sys.exit(main())
