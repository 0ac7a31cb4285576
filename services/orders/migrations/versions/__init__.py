"""Revisions of the orders database, oldest first by down_revision."""
