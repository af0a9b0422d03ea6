"""What a job needs, built once per process (web server with in-process jobs, or arq worker)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from app.catalog import Catalog, load_catalog
from app.db import Database
from app.providers import Providers
from app.settings import Settings
from app.storage import LocalStorage


@dataclass
class JobContext:
    settings: Settings
    db: Database
    catalog: Catalog
    providers: Providers
    storage: LocalStorage
    worker_id: str = field(default_factory=lambda: "w-" + uuid.uuid4().hex[:12])

    @classmethod
    def create(cls, settings: Settings, db: Database | None = None) -> JobContext:
        return cls(
            settings=settings,
            db=db or Database(settings),
            catalog=load_catalog(settings.catalog_dir),
            providers=Providers(settings),
            storage=LocalStorage(settings.media_dir),
        )

    async def aclose(self) -> None:
        await self.providers.aclose()
