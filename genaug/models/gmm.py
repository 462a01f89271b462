"""Gaussian mixture family (being written)."""
