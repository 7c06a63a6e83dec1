"""Application database (SQLAlchemy Core): SQLite under var/ by default, PostgreSQL when DATABASE_URL is set.

Each feature declares its tables in its own module on the shared `metadata` (storage.db) and
calls `create_all()`; nothing connects at import time.
"""
