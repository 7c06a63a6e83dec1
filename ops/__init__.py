"""The ops console's library: the knowledge base in the database (versions, drafts, publishing,
rollback, diff), the append-only audit log, hot reload of the live index, unanswered-question
mining and analytics. Plain Python + SQLAlchemy: no web code here (web/routes/console*.py is the UI).
"""
