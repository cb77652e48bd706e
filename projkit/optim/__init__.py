"""projkit.optim."""
