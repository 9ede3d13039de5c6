"""AutoMCU REST API (FastAPI) and web dashboard."""
