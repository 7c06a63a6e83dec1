"""Run-time fixes for Rasa 3.6's hot path, applied by scripts/run_rasa.py before Rasa starts (Rasa venv).

Measured with py-spy on the running stack, 10 users asking FAQ questions (Rasa CPU ~99 ms a turn before):

1. Rasa checks every custom-action response with ``jsonschema.validate(result, schema)``. That call
first validates the *schema itself* against the draft 2020-12 metaschema, then the response: the
metaschema check was a third of Rasa's CPU per FAQ turn (py-spy, 10 users: ~33 ms of ~99 ms). The
schema is a constant, so it is checked once here and one compiled validator is reused. Then the
events' ``oneOf`` over 23 event kinds was still ~6% of the loop: an event is checked against its own
kind's branch only (each branch requires its own event name, so that is the same verdict); anything
not shown valid that way goes to the full validator. Same errors, same messages: a response that
fails still raises ``jsonschema.ValidationError`` with Rasa's hint appended.
2. Loading a tracker turns each stored event into its class with ``Event.resolve_by_type``, which
   walks every subclass of ``Event`` (recursively, with ``inspect.isabstract``) for every event: 60%
   of the per-turn tracker read. A name -> class table gives the same class (the first match in
   Rasa's own order), refreshed when a name is unknown (a subclass imported later); unknown names
   still get Rasa's answer (``topic`` -> None, the default, or ValueError).

3. Garbage collection: the loaded model (TensorFlow graphs, the domain, the ONNX featurizer) is
   millions of long-lived objects that every full collection walks again; those pauses landed on
   whatever line allocated (74% of a tracker read was one such line). After the model loads, one
   ``gc.collect()`` and ``gc.freeze()`` move everything alive into the permanent generation, which
   collections skip; conversation objects are collected as before.

4. The e5 sentence encoder of the NLU pipeline (bot/e5_featurizer.py) was ~20% of Rasa's event-loop
   time (py-spy, 10 WeChat users). It is native code that releases the GIL, so each incoming message
   is encoded on one worker thread before Rasa handles it, while the loop serves other users; the
   featurizer then takes that vector instead of encoding inline (same encoder, same input, same vector).

5. TED (the transformer policy) was ~28% of the event loop's time, and on most turns its answer cannot
   be chosen: Rasa's ensemble takes the highest (confidence, priority), and a rule or memorised story
   that already predicted with confidence 1.0 at a higher priority than TED's outranks anything TED can
   return (at most 1.0). Rasa runs the policies in a fixed order (Memoization, Rule, TED); when one of
   the earlier ones is decisive for this very tracker, TED returns "no opinion" instead of running its
   model. Only for a TED without end-to-end (text) features, whose predictions could otherwise overrule
   intent-based ones. The chosen action, policy and confidence are Rasa's own.

1, 2 and 4 are checked against Rasa's own outputs in tests/connectors/test_rasa_speedups.py and
tests/connectors/test_encode_ahead.py, 5 in tests/connectors/test_ted_skip.py (whole conversations
with and without it give the same actions, policies and confidences).
"""
from __future__ import annotations

import asyncio
import functools
import gc
import logging
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

log = logging.getLogger(__name__)
_INSTALLED = False


@functools.lru_cache(maxsize=1)
def _action_response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    cls = validator_for(schema)
    cls.check_schema(schema)        # what jsonschema.validate does on every call
    return cls(schema)


@functools.lru_cache(maxsize=1)
def _event_validators() -> Any:
    """(validator of an event without its `oneOf`, {event name: validator of that name's branch})."""
    from jsonschema.validators import validator_for
    from rasa.shared.utils.schemas.events import EVENT_SCHEMA

    base = {key: value for key, value in EVENT_SCHEMA.items() if key != "oneOf"}
    branches = {}
    for branch in EVENT_SCHEMA["oneOf"]:
        name = branch["properties"]["event"]["const"]
        branches[name] = validator_for(branch)(branch)
    return validator_for(base)(base), branches


def _plainly_valid(result: Any) -> bool:
    """True only if the action response is valid under Rasa's schema, checked the cheap way.

    Each event schema branch of the `oneOf` requires its own constant event name, so an event is valid
    exactly when the common part and its name's branch accept it: one branch checked instead of 23 (the
    `oneOf` was most of the validation). False means "not shown valid": the full validator decides.
    """
    if not isinstance(result, dict):
        return False
    responses = result.get("responses", [])
    if not isinstance(responses, list) or not all(isinstance(r, dict) for r in responses):
        return False
    events = result.get("events", [])
    if not isinstance(events, list):
        return False
    base, branches = _event_validators()
    for event in events:
        name = event.get("event") if isinstance(event, dict) else None
        branch = branches.get(name) if isinstance(name, str) else None
        if branch is None or not base.is_valid(event) or not branch.is_valid(event):
            return False
    return True


def _validate_action_result(self: Any, result: Dict[Text, Any]) -> bool:
    """RemoteAction._validate_action_result with a compiled validator (jsonschema.validate semantics)."""
    from jsonschema import ValidationError
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    if _plainly_valid(result):
        return True
    error = best_match(_action_response_validator().iter_errors(result))
    if error is None:
        return True
    assert isinstance(error, ValidationError)
    error.message += (
        ". Failed to validate Action server response from API, make sure your response from the Action "
        f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions")
    raise error


_EVENT_CLASSES: Dict[Text, Any] = {}
_ORIGINAL_RESOLVE: List[Callable[..., Any]] = []


def _refresh_event_classes() -> None:
    import rasa.shared.utils.common
    from rasa.shared.core.events import Event

    table: Dict[Text, Any] = {}
    for cls in rasa.shared.utils.common.all_subclasses(Event):
        table.setdefault(cls.type_name, cls)     # the first match, as Rasa's loop returns
    _EVENT_CLASSES.clear()
    _EVENT_CLASSES.update(table)


def _resolve_by_type(type_name: Text, default: Optional[Any] = None) -> Optional[Any]:
    """Event.resolve_by_type through a name -> class table."""
    cls = _EVENT_CLASSES.get(type_name)
    if cls is None:
        _refresh_event_classes()
        cls = _EVENT_CLASSES.get(type_name)
    if cls is not None:
        return cls
    return _ORIGINAL_RESOLVE[0](type_name, default)   # Rasa's answer for names no class has


def _freeze_after(load: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap rasa.core.run.load_agent_on_start: freeze the heap once the model is loaded."""

    @functools.wraps(load)
    async def load_agent_then_freeze(*args: Any, **kwargs: Any) -> Any:
        agent = await load(*args, **kwargs)
        gc.collect()
        gc.freeze()
        log.info("model loaded; %d objects frozen out of garbage collection", gc.get_freeze_count())
        return agent

    return load_agent_then_freeze


@functools.lru_cache(maxsize=1)
def _encoder_thread() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-prefetch")


def _encode_ahead(handle: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap MessageProcessor.handle_message: encode the text off the event loop first (point 4)."""

    @functools.wraps(handle)
    async def handle_message(self: Any, message: Any) -> Any:
        text = getattr(message, "text", None)
        if text and not text.startswith("/"):        # "/intent" messages skip the NLU pipeline
            from bot.e5_featurizer import prefetch_query_vector
            try:
                await asyncio.get_running_loop().run_in_executor(_encoder_thread(), prefetch_query_vector, text)
            except Exception:      # the pipeline encodes inline and reports any real failure itself
                log.exception("encoding ahead of the NLU pipeline failed")
        return await handle(self, message)

    return handle_message


# the decisive prediction (confidence 1.0) seen for one tracker state: [tracker ref, events, highest priority]
_decisive: List[Any] = [None, -1, -1]
TED_SKIPS = {"skipped": 0, "ran": 0}      # counters for tests and the benchmark log


def _note_decisive(predict: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a policy's predict_action_probabilities: remember a confidence-1.0 prediction for this tracker."""

    @functools.wraps(predict)
    def predict_action_probabilities(self: Any, tracker: Any, domain: Any, *args: Any, **kwargs: Any) -> Any:
        prediction = predict(self, tracker, domain, *args, **kwargs)
        if prediction.max_confidence >= 1.0:
            ref, events, priority = _decisive
            same_state = ref is not None and ref() is tracker and events == len(tracker.events)
            best = max(priority, prediction.policy_priority) if same_state else prediction.policy_priority
            _decisive[:] = [weakref.ref(tracker), len(tracker.events), best]
        return prediction

    return predict_action_probabilities


def _outranked(tracker: Any, priority: int) -> bool:
    ref, events, best = _decisive
    return ref is not None and ref() is tracker and events == len(tracker.events) and best > priority


def _skip_when_outranked(predict: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap TEDPolicy.predict_action_probabilities: no model run when its answer cannot be chosen (point 5)."""
    from rasa.shared.nlu.constants import TEXT

    @functools.wraps(predict)
    def predict_action_probabilities(self: Any, tracker: Any, domain: Any, *args: Any, **kwargs: Any) -> Any:
        text_features = getattr(self, "only_e2e", True) or TEXT in (getattr(self, "fake_features", None) or {})
        if not text_features and _outranked(tracker, self.priority):
            TED_SKIPS["skipped"] += 1
            return self._prediction(self._default_predictions(domain))
        TED_SKIPS["ran"] += 1
        return predict(self, tracker, domain, *args, **kwargs)

    return predict_action_probabilities


def install() -> None:
    """Patch Rasa in this process (idempotent)."""
    global _INSTALLED
    if _INSTALLED:
        return
    import rasa.core.run
    from rasa.core.actions.action import RemoteAction
    from rasa.core.policies.memoization import MemoizationPolicy
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.core.policies.ted_policy import TEDPolicy
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.events import Event

    RemoteAction._validate_action_result = _validate_action_result
    rasa.core.run.load_agent_on_start = _freeze_after(rasa.core.run.load_agent_on_start)
    _ORIGINAL_RESOLVE.append(Event.resolve_by_type)
    Event.resolve_by_type = staticmethod(_resolve_by_type)
    MessageProcessor.handle_message = _encode_ahead(MessageProcessor.handle_message)
    for policy in (MemoizationPolicy, RulePolicy):     # RulePolicy overrides, does not call, Memoization's
        policy.predict_action_probabilities = _note_decisive(policy.predict_action_probabilities)
    TEDPolicy.predict_action_probabilities = _skip_when_outranked(TEDPolicy.predict_action_probabilities)
    _INSTALLED = True
    log.info("rasa speed-ups installed: compiled action-response validator, event class table, "
             "heap frozen after model load, sentence encoding off the event loop, TED skipped when outranked")
