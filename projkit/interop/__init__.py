"""projkit.interop."""
