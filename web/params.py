"""Bounded integer parameters for the API: ids, offsets and cursors (schemathesis).

Ids are INTEGER columns (32-bit in PostgreSQL); an unbounded ``int`` lets a request such as
``?offset=10**22`` reach the database driver and come back as a 500 (OverflowError in SQLite,
"integer out of range" in PostgreSQL). These types turn it into a clear 422 instead.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

MAX_ID = 2 ** 31 - 1

PathId = Annotated[int, Path(ge=1, le=MAX_ID, description="numeric id")]
IdItem = Annotated[int, Field(ge=1, le=MAX_ID)]
