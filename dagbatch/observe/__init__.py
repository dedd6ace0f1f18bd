"""Reading what happened to a job: why tasks ran or never ran (``outcome``)."""
