"""Search spaces AutoMCU can search."""
