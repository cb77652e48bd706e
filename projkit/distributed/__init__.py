"""projkit.distributed."""
