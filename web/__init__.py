"""Web service (FastAPI): knowledge search API, health, ops console, agent console, WeChat simulator."""
