"""Small shared helpers: atomic IO, distributed reductions, image grids."""
