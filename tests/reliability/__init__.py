"""Reliability suite: faults, floods and hostile input (part of the normal test run)."""
