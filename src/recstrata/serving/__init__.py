"""Serving: the HTTP API (FastAPI app factory, one router per resource), event store, shadow mode."""
