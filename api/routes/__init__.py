"""Routers of the REST API, mounted under ``/api/v1``."""
