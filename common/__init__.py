"""Code shared by every process (Rasa connectors, action server, web service).

Kept dependency-free (stdlib + PyYAML) because it is imported from both venvs:
Python 3.10 (Rasa) and Python 3.11 (actions, knowledge, web).
"""
