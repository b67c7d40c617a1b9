"""One streaming pass over a text file before it is read: its encoding and its longest line.

The encoding decides how DuckDB decodes the file (a mostly-UTF-8 file with a few Latin-1 lines
is read as UTF-8 and those lines are rejected, counted); the longest line sizes DuckDB's CSV
buffer, because DuckDB drops a line longer than its buffer without a trace.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# Valid multi-byte UTF-8 sequences (RFC 3629), to tell a mostly-UTF-8 file with a few Latin-1
# lines ("mixed") from a Latin-1 file whose accents are lone high bytes.
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2}"
)
_HIGH_BYTES = bytes(range(128, 256))
LONG_LINE_WINDOW = 1 << 19  # every window of this many bytes is checked for a newline


@dataclass
class TextScan:
    """What one streaming pass over a text file found: its encoding and its longest line."""

    encoding: str = "utf-8"  # utf-8 | latin-1 | mixed (mostly UTF-8; other lines are rejected)
    longest_line: int = 0  # bytes of the longest line, exact when over 2 * LONG_LINE_WINDOW
    longest_at: int = 0  # byte offset where that line starts


class _TextScanner:
    """Fed the file block by block: UTF-8 validity (exact across block edges), the share of
    non-ASCII bytes that sit in valid UTF-8 sequences (exact per block once a block fails), and the
    longest line, found with one `memchr` per LONG_LINE_WINDOW bytes (cheap on any log)."""

    def __init__(self) -> None:
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.invalid = False
        self.valid_bytes = 0  # bytes >= 0x80 in valid multi-byte sequences
        self.high_bytes = 0  # bytes >= 0x80
        self.offset = 0  # bytes seen
        self.last_newline = -1  # offset of the last newline seen
        self.scan = TextScan()

    def feed(self, block: bytearray) -> None:
        self._encoding(block)
        self._lines(block)
        self.offset += len(block)

    def finish(self) -> TextScan:
        self._line_ends(self.offset)
        if not self.invalid:
            try:
                self.decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.invalid = True
        if self.invalid:
            stray = self.high_bytes - self.valid_bytes
            self.scan.encoding = "mixed" if self.valid_bytes >= max(stray, 1) else "latin-1"
        return self.scan

    def _encoding(self, block: bytearray) -> None:
        if block.isascii() and (self.invalid or not self.decoder.getstate()[0]):
            return  # ASCII with nothing pending is valid UTF-8: ~20x cheaper check
        high = len(block) - len(block.translate(None, _HIGH_BYTES))
        self.high_bytes += high
        if not self.invalid:
            try:
                self.decoder.decode(block)
                self.valid_bytes += high  # all of them sit in valid sequences
                return
            except UnicodeDecodeError:
                self.invalid = True
        self.valid_bytes += len(block) - len(_UTF8_MULTIBYTE.sub(b"", block))

    def _lines(self, block: bytearray) -> None:
        first = block.find(b"\n")
        if first < 0:
            return  # the current line goes on
        self._line_ends(self.offset + first)
        last = block.rfind(b"\n")
        for start in range(first, last, LONG_LINE_WINDOW):
            stop = min(start + LONG_LINE_WINDOW + 1, last)
            if start + 1 < stop and block.find(b"\n", start + 1, stop) < 0:
                begin = block.rfind(b"\n", 0, start + 1)
                end = block.find(b"\n", stop)
                self._note(end - begin - 1, self.offset + begin + 1)
        self.last_newline = self.offset + last

    def _line_ends(self, at: int) -> None:
        self._note(at - self.last_newline - 1, self.last_newline + 1)

    def _note(self, length: int, start: int) -> None:
        if length > self.scan.longest_line:
            self.scan.longest_line, self.scan.longest_at = length, start


def scan_text(path: Path, chunk: int = 8 << 20) -> TextScan:
    """Encoding and longest line of a text file, in one streaming pass."""
    scanner = _TextScanner()
    for block in blocks(path, chunk):
        scanner.feed(block)
    return scanner.finish()


def line_number(path: Path, offset: int, chunk: int = 8 << 20) -> int:
    """1-based line number of the byte at `offset` (a second pass, for error messages only)."""
    count, seen = 1, 0
    for block in blocks(path, chunk):
        count += block.count(b"\n", 0, max(0, min(len(block), offset - seen)))
        seen += len(block)
        if seen >= offset:
            break
    return count


def blocks(path: Path, chunk: int) -> Iterator[bytearray]:
    """The file in blocks read into one reused buffer (valid until the next block): a fresh 8 MB
    bytes object per read would cost 2,048 page faults each, ~55k on a 220 MB log."""
    buffer = bytearray(chunk)
    with path.open("rb") as handle:
        while size := handle.readinto(buffer):
            yield buffer if size == chunk else buffer[:size]
