"""FastAPI dependency aliases shared by the routers."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from web.state import AppState


def get_state(request: Request) -> AppState:
    return request.app.state.app_state


StateDep = Annotated[AppState, Depends(get_state)]
