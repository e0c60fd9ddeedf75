"""Thin adapters between chat platforms (and the terminal) and the core engine."""
