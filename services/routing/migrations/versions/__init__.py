"""Revisions of the routing database, oldest first by down_revision."""
