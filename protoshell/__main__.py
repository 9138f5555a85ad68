"""``python -m protoshell``: the same as the ``protoshell`` script."""

import sys

from .cli import main

sys.exit(main())
