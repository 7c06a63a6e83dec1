"""Ops tooling: `python -m quotes validate [CONTENT_DIR]` checks every rate table against products.yml.

Exit status 0 when all tables are valid, 1 with one line per problem otherwise (CI-friendly).
`python -m quotes quote '{"product_id": "medical_million", "age": 35, "payment_mode": "annual"}'`
prints a quote (no display record) to try a table edit before publishing it.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from common.settings import load_settings


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("validate", "quote"):
        print(__doc__)
        return 2
    if argv[0] == "validate":
        from quotes.catalogue import CatalogueError, load_catalogue
        from quotes.rates import validate_rate_dir

        content = Path(argv[1]) if len(argv) > 1 else load_settings().knowledge_dir
        try:
            catalogue = load_catalogue(content / "products.yml")
        except CatalogueError as exc:
            print(f"products.yml: {exc}")
            return 1
        problems = validate_rate_dir(content / "rates", catalogue)
        for problem in problems:
            print(problem)
        if not problems:
            print(f"ok: {len(catalogue.ids())} rate tables valid in {content / 'rates'}")
        return 1 if problems else 0

    from quotes.messages import render
    from quotes.service import QuoteInputError, QuoteRequest, QuoteService

    service = QuoteService.from_content_dir(load_settings().knowledge_dir)
    try:
        result = service.quote(QuoteRequest(**json.loads(argv[1])))
    except QuoteInputError as exc:
        print(f"invalid: {exc}")
        return 1
    print(json.dumps(result.to_api(), ensure_ascii=False, indent=2))
    print(render(result, service.catalogue))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
