"""``python -m protoshell.server [--root DIR] [--port N] ...``: the same as
``protoshell serve``, without loading the CLI (the benchmarks use it)."""

import sys

from .control import serve_main

sys.exit(serve_main(sys.argv[1:]))
