"""streamapp."""
