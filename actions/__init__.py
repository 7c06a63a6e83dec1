"""Rasa custom actions (rasa-sdk). Thin classes; logic lives in plain modules (knowledge/, quotes/, handoff/).

rasa-sdk imports every module here at start-up: keep imports light and build nothing at import time.
"""
