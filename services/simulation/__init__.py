"""Replaying a lockdown through the real services: scenarios, the actions they imply, the fleet and the report."""
