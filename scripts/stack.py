"""`make run`: start Rasa core, the action server and the web service; Ctrl-C stops all three."""
from __future__ import annotations

import signal
import sys
import time

from common.secret_check import check_production_secrets
from common.settings import load_settings
from common.stack import start_stack


def main() -> int:
    settings = load_settings()
    check_production_secrets(settings, "make run")   # before anything starts; exits 1 with the names
    print("starting Rasa core, action server and web service (Rasa needs ~15 s) ...", flush=True)
    stack = start_stack(settings)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    print(
        "\n保险小助手 is up:\n"
        f"  Rasa core (REST channel):  {settings.rasa_url}/webhooks/rest/webhook\n"
        f"  WeChat channels:           {settings.rasa_url}/webhooks/wechat/webhook , /webhooks/wecom_kf/webhook\n"
        f"  Action server:             http://127.0.0.1:{settings.action_port}/health\n"
        f"  Web service:               {settings.web_url}/  (health: {settings.web_url}/healthz)\n"
        "  Chat in a terminal:        make chat\n"
        "Ctrl-C stops all three.\n", flush=True)
    while not stopping:
        dead = stack.dead()
        if dead:
            print(f"service stopped unexpectedly: {', '.join(dead)}; stopping the rest", flush=True)
            break
        time.sleep(0.5)
    stack.stop()
    return 0 if stopping else 1


if __name__ == "__main__":
    sys.exit(main())
