"""projkit.sketching."""
