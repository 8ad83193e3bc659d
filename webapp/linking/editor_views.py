"""Inline link editor routes (being built)."""
