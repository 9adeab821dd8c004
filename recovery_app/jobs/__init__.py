"""Scheduled jobs: one leader at a time (a lease in the database), each window run once."""
