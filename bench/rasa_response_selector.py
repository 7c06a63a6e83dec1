"""Baseline (d): Rasa's own ResponseSelector trained on the same FAQ data (runs in .venv-rasa).

usage: .venv-rasa/bin/python bench/rasa_response_selector.py OUT_JSON
Trains an NLU-only model (retrieval intent faq/<id>, examples = standard + similar questions),
then predicts every dev-set query; writes [{"q", "ids", "score"}].
"""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEV_SETS = ("retrieval_devset.yml", "retrieval_devset_users.yml")  # the dev sets knowledge/training.py reads
CONFIG = """recipe: default.v1
language: zh
assistant_id: rs-baseline
pipeline:
  - name: JiebaTokenizer
  - name: CountVectorsFeaturizer
  - name: CountVectorsFeaturizer
    analyzer: char_wb
    min_ngram: 1
    max_ngram: 3
  - name: DIETClassifier
    epochs: 60
    entity_recognition: false
    random_seed: 42
  - name: ResponseSelector
    epochs: 100
    retrieval_intent: faq
    random_seed: 42
policies: []
"""


def main(out_path: str) -> None:
    faqs = yaml.safe_load((ROOT / "knowledge/content/faq.yml").read_text(encoding="utf-8"))["faqs"]
    nlu_lines = ['version: "3.1"', "nlu:"]
    responses = {}
    for f in faqs:
        key = f["id"].replace(".", "_")
        nlu_lines.append(f"- intent: faq/{key}\n  examples: |")
        for q in dict.fromkeys([f["question"]] + f["similar"]):
            nlu_lines.append("    - " + q.replace("\n", " "))
        responses[f"utter_faq/{key}"] = [{"text": f["answer"]}]
    # a second intent so DIET has something to separate
    nlu_lines.append("- intent: greet\n  examples: |\n    - 你好\n    - 在吗\n    - 哈喽\n    - 早上好\n    - 有人吗")
    domain = {"version": "3.1", "intents": ["faq", "greet"], "responses": responses}
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "nlu.yml").write_text("\n".join(nlu_lines) + "\n", encoding="utf-8")
        (t / "domain.yml").write_text(yaml.safe_dump(domain, allow_unicode=True), encoding="utf-8")
        (t / "config.yml").write_text(CONFIG, encoding="utf-8")
        subprocess.run([str(ROOT / ".venv-rasa/bin/rasa"), "train", "nlu", "--config", str(t / "config.yml"),
                        "--nlu", str(t / "nlu.yml"), "--domain", str(t / "domain.yml"), "--out", str(t / "m"),
                        "--fixed-model-name", "rs", "--quiet"], check=True)
        from rasa.core.agent import Agent

        agent = Agent.load(str(t / "m" / "rs.tar.gz"))
        dev = [item for name in DEV_SETS
               for item in yaml.safe_load((ROOT / "bench/data" / name).read_text(encoding="utf-8"))["items"]]

        async def predict() -> list[dict]:
            out = []
            for item in dev:
                parsed = await agent.parse_message(item["q"])
                sel = (parsed.get("response_selector") or {}).get("faq") or {}
                ranking = sel.get("ranking") or []
                ids = [r["intent_response_key"].split("/", 1)[1].replace("_", ".") for r in ranking[:5]]
                ids = [_restore_id(i, faqs) for i in ids]
                scores = [float(r["confidence"]) for r in ranking[:5]]
                if (parsed.get("intent") or {}).get("name") != "faq":
                    scores = [0.0] * len(scores)
                out.append({"q": item["q"], "ids": ids, "score": scores[0] if scores else 0.0, "scores": scores})
            return out

        Path(out_path).write_text(json.dumps(asyncio.run(predict()), ensure_ascii=False), encoding="utf-8")


def _restore_id(dotted: str, faqs: list[dict]) -> str:
    # ids contain '_' themselves (faq.claim.social_insurance): map back by the underscore form
    table = {f["id"].replace(".", "_"): f["id"] for f in faqs}
    return table.get(dotted.replace(".", "_"), dotted)


if __name__ == "__main__":
    main(sys.argv[1])
