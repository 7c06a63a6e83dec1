"""`make chat`: a terminal chat with the running assistant over Rasa's REST channel."""
from __future__ import annotations

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid

from common.settings import load_settings


def send(url: str, sender: str, text: str) -> list[dict]:
    req = urllib.request.Request(url, data=json.dumps({"sender": sender, "message": text}).encode("utf-8"),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def main() -> int:
    settings = load_settings()
    url = f"{settings.rasa_url}/webhooks/rest/webhook"
    if settings.rasa_auth_token:
        url += "?" + urllib.parse.urlencode({"token": settings.rasa_auth_token})   # harmless on webhooks
    sender = f"terminal-{uuid.uuid4().hex[:8]}"
    print(f"保险小助手 terminal chat ({settings.rasa_url}); empty line or Ctrl-D quits.")
    while True:
        try:
            text = input("您: ").strip()
        except EOFError:
            return 0
        if not text:
            return 0
        try:
            replies = send(url, sender, text)
        except (urllib.error.URLError, OSError) as exc:
            print(f"无法连接助手（{exc}）。请先在另一个终端运行 `make run`。", file=sys.stderr)
            return 1
        for reply in replies:
            if reply.get("text"):
                print(f"助手: {reply['text']}")
            if reply.get("buttons"):
                print("      " + " / ".join(b.get("title", "") for b in reply["buttons"]))
            if reply.get("custom"):
                print(f"      {json.dumps(reply['custom'], ensure_ascii=False)}")


if __name__ == "__main__":
    sys.exit(main())
