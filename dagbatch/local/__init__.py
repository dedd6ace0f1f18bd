"""Trying a workflow on this machine: ``run.run_local`` (the library behind ``dagbatch run``)."""
