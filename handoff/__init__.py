"""Hand-off to human agents and back to the bot: queue, routing, records, relay.

Plain modules; only `handoff.card`, `handoff.hours`, `handoff.rating` and `handoff.texts` are
imported by the action server (stdlib only). The rest runs inside the web service.
See docs/handoff.md.
"""
