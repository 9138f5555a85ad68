"""The lecture's C:/S: notation: parse, write, redact, match.  Pure: stdlib
only, no I/O beyond the text streams handed in, no clock."""

from .escape import (
    REDACTED,
    REDACTION,
    Redaction,
    Segment,
    escape_line,
    line_to_text,
    segments_to_text,
    text_to_line,
    unescape_line,
)
from .model import (
    ClientLine,
    Comment,
    Meta,
    Narration,
    NarrationKind,
    ServerLine,
    Side,
    Step,
    Transcript,
)
from .parse import TranscriptError, parse_transcript, read_transcript
from .redact import Redactor
from .variables import (
    Pattern,
    RedactedLineError,
    VariableError,
    compile_expected,
    is_redacted,
    match_expected,
    substitute,
    substitute_bytes,
    variables_in,
)
from .write import TranscriptWriter

__all__ = [
    "REDACTED",
    "REDACTION",
    "ClientLine",
    "Comment",
    "Meta",
    "Narration",
    "NarrationKind",
    "Pattern",
    "RedactedLineError",
    "Redaction",
    "Redactor",
    "Segment",
    "ServerLine",
    "Side",
    "Step",
    "Transcript",
    "TranscriptError",
    "TranscriptWriter",
    "VariableError",
    "compile_expected",
    "escape_line",
    "is_redacted",
    "line_to_text",
    "match_expected",
    "parse_transcript",
    "read_transcript",
    "segments_to_text",
    "substitute",
    "substitute_bytes",
    "text_to_line",
    "unescape_line",
    "variables_in",
]
