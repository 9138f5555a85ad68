"""The HTML page for a directory: the lab's step 4 and the assignment's
"format your directory listing as HTML, make the files clickable links".

Names are bytes from ``os.scandir`` so that a name that is not valid UTF-8
still gets a working link: the ``href`` percent-encodes the exact bytes
(RFC 3986 2.1) and the visible text shows them decoded with U+FFFD, both
HTML-escaped.  Links are relative (``name`` or ``name/``) because the page is
only ever served at a URL ending in ``/`` (the router redirects otherwise).
"""

from __future__ import annotations

import html
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote


@dataclass(frozen=True, slots=True)
class Entry:
    """One row of a listing."""

    name: bytes
    is_dir: bool
    size: int
    mtime: float

    @property
    def display(self) -> str:
        return self.name.decode("utf-8", "replace")

    @property
    def href(self) -> str:
        return quote(self.name, safe="") + ("/" if self.is_dir else "")

    def sort_key(self) -> tuple[int, str, bytes]:
        # Directories first, then by name for people (case-insensitive), with
        # the raw bytes as the tie-break so the order is total and stable.
        return (0 if self.is_dir else 1, self.display.casefold(), self.name)


def scan(directory: bytes, allowed: Callable[[bytes], bool]) -> list[Entry]:
    """The visible entries of ``directory``, sorted.

    Hidden names (a leading dot) are left out, and so is anything the server
    would refuse to serve: symlinks whose target ``allowed`` rejects (outside
    the root), broken links, FIFOs, sockets and devices, and entries that
    vanish while we look.
    """
    entries: list[Entry] = []
    with os.scandir(directory) as it:
        for de in it:
            name = de.name
            if name.startswith(b"."):
                continue
            try:
                if de.is_symlink() and not allowed(os.path.realpath(de.path)):
                    continue
                st = de.stat()  # follows symlinks: show what a click would get
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                entries.append(Entry(name, True, 0, st.st_mtime))
            elif stat.S_ISREG(st.st_mode):
                entries.append(Entry(name, False, st.st_size, st.st_mtime))
    entries.sort(key=Entry.sort_key)
    return entries


_UNITS: Final = ("bytes", "KiB", "MiB", "GiB", "TiB")


def human_size(n: int) -> str:
    """``"812 bytes"``, ``"3.4 KiB"``, ``"50.0 MiB"``."""
    if n < 1024:
        return f"{n} bytes" if n != 1 else "1 byte"
    value = float(n)
    unit = 0
    while value >= 1024 and unit < len(_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.1f} {_UNITS[unit]}"


#: The server's own pages (listings, errors, /time-page) share this style.
PAGE_STYLE: Final = """\
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:52em;padding:0 1em;color:#222}
h1{font-size:1.4em;word-break:break-all}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid #ddd}
td.size,th.size{text-align:right;white-space:nowrap}
td.time{white-space:nowrap;color:#555}
a{text-decoration:none}a:hover{text-decoration:underline}
footer{margin-top:1.5em;color:#777;font-size:.9em}
code{background:#eef2f5;padding:0 .25em;border-radius:3px}"""


def render(display_path: str, entries: Iterable[Entry], *, at_root: bool, server: str) -> bytes:
    """The listing page as UTF-8 HTML.

    ``display_path`` is the directory's URL path for people (decoded); every
    piece of text that came from the file system or the URL is escaped.
    """
    title = html.escape(f"Index of {display_path}")
    rows: list[str] = []
    if not at_root:
        rows.append(
            '<tr><td><a href="../">../</a></td><td class="size">-</td>'
            '<td class="time">parent directory</td></tr>'
        )
    count = 0
    for e in entries:
        count += 1
        label = html.escape(e.display + ("/" if e.is_dir else ""))
        size = "-" if e.is_dir else html.escape(human_size(e.size))
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.mtime))
        rows.append(
            f'<tr><td><a href="{html.escape(e.href)}">{label}</a></td>'
            f'<td class="size" title="{e.size} bytes">{size}</td>'
            f'<td class="time">{when} UTC</td></tr>'
        )
    noun = "entry" if count == 1 else "entries"
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{PAGE_STYLE}</style></head>\n"
        f"<body><h1>{title}</h1>\n"
        '<table><thead><tr><th>Name</th><th class="size">Size</th>'
        "<th>Modified</th></tr></thead><tbody>\n"
        + "\n".join(rows)
        + f"\n</tbody></table>\n<footer>{count} {noun} · {html.escape(server)}</footer>"
        "</body></html>\n"
    )
    return page.encode("utf-8")
