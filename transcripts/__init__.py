"""Conversation transcripts encrypted at rest (SM4-GCM), retention, legal hold and erasure (docs/privacy.md).

Modules: :mod:`transcripts.crypto` (keys, SM4-GCM tokens), :mod:`transcripts.tables`,
:mod:`transcripts.store` (write/read/rotate turns), :mod:`transcripts.capture` (a non-blocking
background writer fed by the Rasa event broker in :mod:`transcripts.broker` and by the hand-off
service), :mod:`transcripts.holds`, :mod:`transcripts.retention` (purge), :mod:`transcripts.erasure`
(a user's "delete my data"), :mod:`transcripts.tracker_events` (Rasa's SQL tracker store).
Nothing runs at import; the Rasa-side modules stay Python 3.10 / SQLAlchemy 1.4 compatible.
"""
