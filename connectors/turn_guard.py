"""One Rasa turn per message id, and a polite answer when a custom action fails (Rasa venv only).

Two faults the plain ``on_new_message`` handler does not cover:

* **A turn runs twice.** After a crash between Rasa saving a turn and the channel recording that it
  answered, or when a WeChat retry takes over a turn it wrongly believed dead (connectors/ledger.py),
  the channel asks for the same message again. :func:`guarded_turn_runner` takes the conversation
  lock itself (as ``Agent.handle_message`` does), looks in the tracker for a user event with this
  message id and, if found, replays the bot messages that followed it instead of running the turn
  again. Inside the lock, so a concurrent duplicate waits for the first turn and then sees it.
* **The action server is down or failing.** Rasa catches the exception of a custom action, logs
  ``Encountered an exception while running action ...`` and carries on: the user gets nothing, or
  only the part of the answer that did not need the action server. A filter on Rasa's processor
  logger records those failures for the running turn (a context variable, so concurrent turns do not
  mix) and the runner appends an apology with a hand-off offer. When the hand-off action itself is the
  one failing, the offer would loop, so the text asks the user to try again a little later.

A bot message carrying a menu (``custom.msgmenu``, with the numbered list as its text) is collected as
one message (:class:`MenuKeepingCollector`); Rasa's own collector would split it into a text and a
custom message, and the channels need to know which text the menu replaces.

The processor log line is Rasa 3.6's (pinned in requirements/rasa.lock); tests/faults checks it end
to end, so an upgrade that changes it fails a test instead of silently dropping the apology.
"""
from __future__ import annotations

import contextvars
import logging
import re
from typing import Any, Awaitable, Callable, Dict, List, Optional

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from connectors.fault_replies import apology_for, replayed_messages
from connectors.rasa_stores import one_read_per_turn

log = logging.getLogger(__name__)

PROCESSOR_LOGGER = "rasa.core.processor"
_FAILED_ACTION = re.compile(r"^Encountered an exception while running action '([^']+)'")

_failed_actions: contextvars.ContextVar[Optional[List[str]]] = contextvars.ContextVar(
    "insurebot_failed_actions", default=None)

RunTurn = Callable[[str, str, str, Dict[str, Any]], Awaitable[List[Dict[str, Any]]]]


class ActionFailureFilter(logging.Filter):
    """Notes, for the turn running in this context, every custom action Rasa reports as failed."""

    def filter(self, record: logging.LogRecord) -> bool:
        failed = _failed_actions.get()
        if failed is not None and record.levelno >= logging.ERROR:
            match = _FAILED_ACTION.match(str(record.msg))
            if match:
                failed.append(match.group(1))
        return True      # never hides the record


def install_action_failure_filter() -> None:
    """Attach the filter to Rasa's processor logger once per process (called when a channel loads)."""
    logger = logging.getLogger(PROCESSOR_LOGGER)
    if not any(isinstance(f, ActionFailureFilter) for f in logger.filters):
        logger.addFilter(ActionFailureFilter())


class MenuKeepingCollector(CollectingOutputChannel):
    """Rasa's CollectingOutputChannel, except that a message with ``custom.msgmenu`` stays whole.

    Rasa's ``send_response`` sends a message's text and its custom payload separately (and splits the
    text at blank lines); for a menu message the channels keep ``{"text", "custom"}`` together, as the
    action sent it and as a replay from the tracker (:func:`connectors.fault_replies.replayed_messages`)
    rebuilds it. Every other message is collected exactly as Rasa does.
    """

    async def send_response(self, recipient_id: str, message: Dict[str, Any]) -> None:
        custom = message.get("custom")
        if not (isinstance(custom, dict) and "msgmenu" in custom):
            await super().send_response(recipient_id, message)
            return
        await self._persist_message(self._message(
            recipient_id, text=message.get("text") or None,
            image=message.get("image") or None,
            buttons=message.get("buttons") or message.get("quick_replies") or None,
            attachment=message.get("attachment") or None, custom=custom))


def guarded_turn_runner(agent_of: Callable[[], Any], on_new_message: Callable[[UserMessage], Awaitable[Any]],
                        channel: str) -> RunTurn:
    """A ``run_turn`` coroutine: at most one Rasa turn per message id, an apology if actions failed.

    ``agent_of()`` returns Rasa's Agent (``request.app.ctx.agent``); when it is unavailable (not
    loaded yet) the turn goes through ``on_new_message`` unguarded, as before.
    """
    install_action_failure_filter()

    async def run_turn(text: str, sender_id: str, message_id: str,
                       metadata: Dict[str, Any]) -> List[Dict[str, Any]]:
        collector = MenuKeepingCollector()
        message = UserMessage(text, collector, sender_id, input_channel=channel,
                              message_id=message_id, metadata=metadata)
        failed: List[str] = []
        token = _failed_actions.set(failed)
        try:
            agent = agent_of()
            if agent is None or not agent.is_ready():
                await on_new_message(message)
                return _with_apology(list(collector.messages), failed)
            async with agent.lock_store.lock(sender_id):
                with one_read_per_turn():      # the read below is the one Rasa's turn then uses
                    tracker = await agent.tracker_store.retrieve(sender_id)
                    if tracker is not None and message_id:
                        replay = replayed_messages([e.as_dict() for e in tracker.events], message_id)
                        if replay is not None:
                            log.warning("message already handled; replaying its answer",
                                        extra={"event": f"{channel}.replayed", "messages": len(replay)})
                            return replay
                    await agent.processor.handle_message(message)
            return _with_apology(list(collector.messages), failed)
        finally:
            _failed_actions.reset(token)

    return run_turn


def _with_apology(messages: List[Dict[str, Any]], failed: List[str]) -> List[Dict[str, Any]]:
    if not failed:
        return messages
    log.error("custom actions failed during the turn; apology added",
              extra={"event": "turn.action_failed", "actions": ",".join(sorted(set(failed)))})
    return messages + [{"text": apology_for(failed)}]
