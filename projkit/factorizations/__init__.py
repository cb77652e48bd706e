"""projkit.factorizations."""
