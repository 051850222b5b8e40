"""Tests of protocol/, the pure wire-format package (no Django, no database)."""
