"""Who gets a hand-off: least-busy online agent with the skill; ties go to whoever waited longest.

Pure functions over :class:`~handoff.store.AgentLoad` snapshots; the store's conditional UPDATEs
make the choice safe when several dispatchers race (a stale snapshot only costs a retry).
"""
from __future__ import annotations

from typing import Iterable

from handoff.store import AgentLoad


def can_take(agent: AgentLoad, skill: str) -> bool:
    """Auto-assignment only goes to agents who are online (not busy/offline), skilled and not full."""
    return agent.status == "online" and skill in agent.skills and agent.active_chats < agent.capacity


def rank_candidates(agents: Iterable[AgentLoad], skill: str) -> list[AgentLoad]:
    """Eligible agents, best first: fewest live chats, then least recently assigned, then lowest id.

    The second key is what makes it fair: among equally loaded agents the one who has waited longest
    since their last assignment goes first, so a burst is spread round-robin instead of piling onto
    the agent with the lowest id.
    """
    return sorted((a for a in agents if can_take(a, skill)),
                  key=lambda a: (a.active_chats, a.last_assigned_at, a.user_id))
