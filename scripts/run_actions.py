"""The action server (``python -m rasa_sdk``) behind the production secret check.

common/stack.py starts actions through this script so the action server, like the other services,
refuses to start outside development with unsafe secrets (docs/security.md). Arguments are
rasa_sdk's own (``--actions actions --port 5055``).
"""
from __future__ import annotations

from common.secret_check import check_production_secrets
from common.settings import load_settings


def main() -> None:
    check_production_secrets(load_settings(), "action server")
    from rasa_sdk.__main__ import main as rasa_sdk_main

    from common.logging_setup import install_record_masking

    install_record_masking()   # rasa-sdk creates its log handlers later: mask records as they are made

    rasa_sdk_main()


if __name__ == "__main__":
    main()
