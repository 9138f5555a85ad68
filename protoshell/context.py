"""The outside world a command runs in: streams, terminal or not, colours.

Following httpie's Environment: one object tests can fake, instead of code
that reads ``sys.stdout.isatty()`` wherever it needs to know.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import IO


@dataclass
class Environment:
    stdin: IO[bytes] = field(default_factory=lambda: sys.stdin.buffer)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    stdin_isatty: bool = field(default_factory=lambda: sys.stdin.isatty())
    stdout_isatty: bool = field(default_factory=lambda: sys.stdout.isatty())
    no_color_env: bool = field(default_factory=lambda: bool(os.environ.get("NO_COLOR")))

    def color(self, no_color_flag: bool = False) -> bool:
        """Colours for people at a terminal; plain bytes for pipes; NO_COLOR honoured."""
        return self.stdout_isatty and not no_color_flag and not self.no_color_env

    def error(self, message: str) -> None:
        """One line on stderr, never a traceback."""
        self.stderr.write(f"protoshell: {message}\n")
        self.stderr.flush()
