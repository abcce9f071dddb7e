"""How fleetcron's CLI writes to a terminal, a pipe or a CI log.

Two rules for everything it prints:

- Outside a terminal there is no screen width, so nothing is wrapped or cut short: a command
  must paste whole from a CI log and a name must grep whole. In a terminal, tables fit the real
  width and long names fold onto the next line rather than end in "…".
- Text that comes from the database (agent names, pg_cron messages, error text) is shown as
  plain text: never parsed as rich markup, and with control characters escaped, so a name like
  ``[/]`` cannot crash a command and an escape sequence cannot colour, retitle or rewrite the
  user's terminal.
"""

from __future__ import annotations

import unicodedata

from rich.console import Console
from rich.text import Text

# rich needs a number; a line longer than this is not one anybody pastes.
UNLIMITED_WIDTH = 1_000_000
# Bidirectional overrides and isolates reorder what follows them on screen (Trojan Source).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def console(*, stderr: bool = False) -> Console:
    """A console that wraps only in a terminal, never in a pipe or a log."""
    probe = Console(stderr=stderr)
    if probe.is_terminal:
        return probe
    return Console(stderr=stderr, width=UNLIMITED_WIDTH)


def escape_controls(text: str) -> str:
    """``text`` with every control character written out as an escape (``\\x1b``, ``\\r``)."""
    return "".join(_escaped(char) for char in text)


def _escaped(char: str) -> str:
    if char in NAMED_ESCAPES:
        return NAMED_ESCAPES[char]
    if unicodedata.category(char) == "Cc" or char in BIDI_CONTROLS:
        code = ord(char)
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return char


def plain(value: object, style: str = "") -> Text:
    """Database text for a table cell or a line: shown exactly, never interpreted."""
    return Text("-" if value is None else escape_controls(str(value)), style=style)
