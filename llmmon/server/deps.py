"""FastAPI dependencies shared by the routes: the app's engine, settings and a DB session.

Everything lives on ``app.state`` (set by ``create_app``); there is no module-level engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from llmmon.config import Settings

__all__ = ["EngineDep", "SessionDep", "SettingsDep", "get_engine", "get_session", "get_settings"]


def get_engine(request: Request) -> Engine:
    """The engine the app was created with."""
    engine: Engine = request.app.state.engine
    return engine


def get_settings(request: Request) -> Settings:
    """The Settings the app was created with."""
    settings: Settings = request.app.state.settings
    return settings


def get_session(request: Request) -> Iterator[Session]:
    """A SQLModel session on the app's engine, closed after the request."""
    with Session(get_engine(request)) as session:
        yield session


EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
