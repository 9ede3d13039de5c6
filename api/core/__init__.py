"""Settings and security shared by the API and the token CLI."""
