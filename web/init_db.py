"""First start and upgrades: create the app database's tables and seed the knowledge base, once.

    .venv-app/bin/python -m web.init_db        # with the deployment's environment (DATABASE_URL, ...)

Every web process also does this lazily at start-up, which is fine for one process; N replicas
starting together on an empty PostgreSQL would race on CREATE TABLE and on the first knowledge
version. Running this once before starting them (docs/deployment.md) makes the first start and every
upgrade (new tables are added, existing ones are left alone) deterministic. Idempotent; prints what
it found as JSON. Rasa creates its own ``events`` table (tracker store) when it starts.
"""
from __future__ import annotations

import json
import sys
from typing import Any, Optional

from common.settings import Settings, load_settings


def init_database(settings: Settings) -> dict[str, Any]:
    """Create every declared table and make sure a published knowledge version exists."""
    import handoff.store  # noqa: F401  (hand-off tables)
    import ops.tables  # noqa: F401  (knowledge versions, audit, unanswered questions)
    import quotes.audit  # noqa: F401  (proof-of-display records)
    import transcripts.tables  # noqa: F401  (encrypted transcripts, holds, privacy jobs)
    import web.auth  # noqa: F401  (console users and sessions)
    from ops.store import KbStore
    from storage.db import create_all, get_engine, metadata

    engine = get_engine(settings.app_database_url)
    create_all(engine)
    published = KbStore(engine, settings.knowledge_dir).ensure_seeded()
    return {"database": engine.dialect.name, "tables": len(metadata.tables), "published_version_id": published}


def main(argv: Optional[list[str]] = None) -> int:
    from common.secret_check import check_production_secrets

    settings = load_settings()
    check_production_secrets(settings, "init_db")
    print(json.dumps(init_database(settings)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
