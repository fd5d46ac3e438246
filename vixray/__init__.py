"""vixray."""
