"""Submission: the REST client, retry policy, journal and the exactly-once submission."""
