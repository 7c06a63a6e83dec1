"""Quote facts from a user's message, one small extractor per fact.

Each extractor reads the normalized message (common.textnorm: simplified, half-width, quantities in
digits) through a shared `Context` that records which characters a fact already used, so one number
is never read as two facts, and returns the value with the user's words it came from (kept as the
quote's proof of display). quotes/parsing.py runs them in a fixed order.
"""
