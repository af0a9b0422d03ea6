"""What a job needs, built once per process (web server with in-process jobs, or arq worker)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from app.catalog import Catalog, load_catalog
from app.db import Database
from app.events import MemoryBus, make_bus
from app.providers import Providers
from app.settings import Settings
from app.storage import Storage, open_storage


@dataclass
class JobContext:
    settings: Settings
    db: Database
    catalog: Catalog
    providers: Providers
    storage: Storage
    events: MemoryBus = field(default_factory=MemoryBus)   # live updates (app.events)
    worker_id: str = field(default_factory=lambda: "w-" + uuid.uuid4().hex[:12])

    @classmethod
    def create(cls, settings: Settings, db: Database | None = None) -> JobContext:
        return cls(
            settings=settings,
            db=db or Database(settings),
            catalog=load_catalog(settings.catalog_dir),
            providers=Providers(settings),
            storage=open_storage(settings),
            events=make_bus(settings),
        )

    async def aclose(self) -> None:
        await self.providers.aclose()
        await self.events.stop()
