"""The `dagbatch` command line: a thin shell over the library."""

from dagbatch.cli.main import main

__all__ = ["main"]
