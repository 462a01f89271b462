"""Small shared helpers: atomic IO, stateless seeds, the version, distributed reductions, image grids."""
