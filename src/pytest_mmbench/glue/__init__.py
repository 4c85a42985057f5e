"""pytest glue: collected items, fixtures, the pytest-benchmark bridge, xdist hand-back."""
