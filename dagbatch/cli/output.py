"""Writing a command's output to standard output so that a reader that stops early (``|
head``) is noticed: the command then ends with ``ExitCode.OUTPUT_CLOSED`` (141), as
``dagbatch.cli.main`` arranges for a ``BrokenPipeError``.

Every command that writes its results to standard output (``compile --format jsonl`` aside,
which writes bytes) does so through ``write_stdout``, a block at a time: a report or a table
whole. One large ``click.echo`` is not enough: when the reader goes while a write is under
way, the pipe takes part of it, the buffered stream reports that part as written, the text
stream drops the rest without a word, and the command would end 0 with its output cut.
"""

from __future__ import annotations

import sys


def write_stdout(text: str | bytes) -> None:
    """Write ``text`` (or bytes, as they are) to standard output whole, or raise
    ``BrokenPipeError`` when its reader has gone (``dagbatch.cli.main`` turns that into exit
    141)."""
    stream = sys.stdout
    if stream is None:  # no standard output at all (pythonw)
        return
    stream.flush()  # what was echoed before comes first
    binary = getattr(stream, "buffer", None)
    if binary is None:  # a text-only stream (a test's capture): no partial writes to see
        stream.write(text if isinstance(text, str) else text.decode(stream.encoding or "utf-8"))
        stream.flush()
        return
    encoded = (
        text
        if isinstance(text, bytes)
        else text.encode(stream.encoding or "utf-8", stream.errors or "strict")
    )
    data = memoryview(encoded)
    while data:
        written = binary.write(data)
        if not written:
            raise OSError(f"standard output took none of the last {len(data):,} bytes")
        data = data[written:]  # a partial write: the next one raises if the reader has gone
    binary.flush()
