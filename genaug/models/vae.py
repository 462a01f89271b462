"""VAE family (being written)."""
