"""projkit.projectors."""
