"""Bringing the backing services up, checking them, and saying how to fix them."""
