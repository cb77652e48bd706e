"""projkit.sampling."""
