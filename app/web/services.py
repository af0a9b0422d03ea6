"""What a route works with, as one typed dependency: `svc: ServicesDep`.

The catalog, the provider adapters, settings, media storage, the database, the job queue, the
templates and the rate limiters are made once by app.main (at start-up, in its lifespan) and
handed to every route through `services`, so no route reaches into `request.app.state`. This
is the only module besides app.main that reads it: the object is put together per request
from what main stored there, so a test that swaps one part (its limiters, say) is seen at once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import Catalog
from app.db import Database
from app.events import MemoryBus
from app.jobs.runner import Queue
from app.providers import Providers
from app.ratelimit import Limits
from app.settings import Settings
from app.storage import Storage
from app.web.media_grants import Grants


@dataclass
class Memo:
    """Facts learnt once per process: once an account exists, open mode is over for good."""

    accounts_on: bool = False


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    catalog: Catalog
    providers: Providers
    storage: Storage
    queue: Queue
    templates: Jinja2Templates
    limits: Limits
    memo: Memo
    events: MemoryBus
    media_grants: Grants

    def render(self, request: Request, name: str, ctx: dict, status_code: int = 200,
               headers: dict | None = None) -> HTMLResponse:
        return self.templates.TemplateResponse(request, name, ctx, status_code=status_code, headers=headers)


def services_of(request: Request) -> Services:
    """The app's services, for a route (through `services`), an error handler or the guard."""
    st = request.app.state
    return Services(settings=st.settings, db=st.db, catalog=st.catalog, providers=st.providers, storage=st.storage,
                    queue=st.queue, templates=st.templates, limits=st.limits, memo=st.memo,
                    events=st.events, media_grants=st.media_grants)


async def services(request: Request) -> Services:
    """Async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a thread
    hop on every request for what is a handful of attribute reads."""
    return services_of(request)


ServicesDep = Annotated[Services, Depends(services)]


async def session(svc: ServicesDep) -> AsyncIterator[AsyncSession]:
    """One database session per request, closed when the response is done. The guard
    (app.web.identity) asks for it too, and FastAPI hands both the same one: one connection
    checkout and one transaction for the actor lookup and the route."""
    async with svc.db.session() as s:
        yield s


SessionDep = Annotated[AsyncSession, Depends(session)]
