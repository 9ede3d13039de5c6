"""The automcu command line."""
