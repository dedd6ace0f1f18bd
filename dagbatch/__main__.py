"""The `dagbatch` command (and `python -m dagbatch`).

``run`` loads the command line itself, so a Ctrl-C in its first tenth of a second (the
imports) ends it as any other Ctrl-C does: one line and ``ExitCode.INTERRUPTED``, not a
traceback.
"""

from __future__ import annotations

import signal
import sys


def run() -> None:
    """Import the command line and run it."""
    try:
        from dagbatch.cli.main import main
    except KeyboardInterrupt:
        # The user asked to stop: a second Ctrl-C while the exit code is looked up (the
        # package's import again, when the first one cut it short) changes nothing.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        from dagbatch.cli.exit_codes import ExitCode

        sys.stderr.write("interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
    main()


if __name__ == "__main__":
    run()
