"""The e5 sentence vector encoded ahead of Rasa's NLU pipeline, off the event loop (connectors/rasa_speedups.py,
bot/e5_featurizer.py), in the real Rasa venv with the real ONNX encoder: the pipeline gets the very vector it
would have computed, each turn uses its own (also when several users send the same text at once), and the
encoder no longer runs on the event loop's thread."""
from __future__ import annotations

import json
import subprocess

import pytest

from common.settings import REPO_ROOT, load_settings
from common.stack import RASA_PYTHON

CHECK = r'''
import asyncio, json, threading
import numpy as np
from rasa.shared.nlu.training_data.message import Message
import bot.e5_featurizer as ef
from bot.e5_featurizer import E5SentenceFeaturizer, prefetch_query_vector
from connectors import rasa_speedups

featurizer = E5SentenceFeaturizer({**E5SentenceFeaturizer.get_default_config(), "scale": 20.0}, "e5")

def vector(text):
    message = Message(data={"text": text})
    featurizer.process([message])
    return message.get_dense_features("text")[1].features

encoder = None
texts = ["犹豫期是多久", "我妈62岁能买百万医疗险吗", "你好"]
inline = {t: vector(t) for t in texts}                      # loads the encoder, encodes on this thread
encoder = next(iter(ef._ENCODERS.values()))
calls = []
original = encoder.encode
def counting(batch, prompt, **kw):
    calls.append((threading.current_thread().name, list(batch)))
    return original(batch, prompt, **kw)
encoder.encode = counting

# prefetched: same vector, and the pipeline does not encode again
prefetch_query_vector(texts[1])
calls.clear()
same = bool(np.array_equal(vector(texts[1]), inline[texts[1]]))
encodes_after_prefetch = len(calls)

# two users send the same text at once: two vectors kept, each turn takes one, the third encodes inline
prefetch_query_vector(texts[0]); prefetch_query_vector(texts[0])
calls.clear()
taken = [vector(texts[0]) for _ in range(3)]
duplicate_encodes = len(calls)
duplicates_equal = all(np.array_equal(v, inline[texts[0]]) for v in taken)

# the wrapper around MessageProcessor.handle_message: encodes on the worker thread, then hands over
class Msg:
    def __init__(self, text): self.text = text
seen = []
async def handle(self, message):
    if not message.text.startswith("/"):           # as Rasa: "/intent" messages skip the NLU pipeline
        seen.append(vector(message.text))
    return "handled"
wrapped = rasa_speedups._encode_ahead(handle)
calls.clear()
async def main():
    return [await wrapped(None, Msg(texts[2])), await wrapped(None, Msg("/greet"))]
results = asyncio.run(main())
threads = sorted({name for name, _ in calls})

# a failing encoder does not fail the turn: the pipeline encodes inline (and would raise its own error)
def broken(batch, prompt, **kw):
    raise RuntimeError("encoder down")
encoder.encode = broken
async def failing():
    return await wrapped(None, Msg("hello"))
try:
    asyncio.run(failing())
    failure = "turn ran"
except RuntimeError as exc:
    failure = str(exc)
print(json.dumps({"same": same, "encodes_after_prefetch": encodes_after_prefetch,
                  "duplicate_encodes": duplicate_encodes, "duplicates_equal": duplicates_equal,
                  "results": results, "wrapped_equal": bool(np.array_equal(seen[0], inline[texts[2]])),
                  "threads": threads, "encoded": [b for _, b in calls], "failure": failure,
                  "left": len(ef._PREFETCHED)}, ensure_ascii=False))
'''


def test_vectors_encoded_ahead_are_the_pipelines_own():
    settings = load_settings()
    if not RASA_PYTHON.exists() or not (settings.embedding_onnx_dir / "model.onnx").exists():
        pytest.skip(".venv-rasa or the ONNX encoder missing (make install)")
    env = {"PYTHONPATH": str(REPO_ROOT), "RASA_TELEMETRY_ENABLED": "false", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([str(RASA_PYTHON), "-c", CHECK], env=env, capture_output=True, text=True, timeout=180,
                          cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["same"] and out["encodes_after_prefetch"] == 0
    assert out["duplicate_encodes"] == 1 and out["duplicates_equal"]
    assert out["results"] == ["handled", "handled"] and out["wrapped_equal"]
    # encoded once, on the worker thread; "/intent" messages skip the NLU pipeline and are not encoded
    assert out["threads"] == ["e5-prefetch_0"] and out["encoded"] == [["你好"]]
    assert out["failure"] == "encoder down"         # the pipeline's own inline attempt raised, not the prefetch
    assert out["left"] == 0
