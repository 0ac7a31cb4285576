"""Revisions of the inventory database, oldest first by down_revision."""
