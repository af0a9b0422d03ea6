"""Provider registry: every module in this package that defines a `Provider` subclass with a
`name` is an adapter. Discovery is lazy and per module, so one adapter's import error (a
missing optional dependency) never breaks the others; it is reported on /models instead."""

from __future__ import annotations

import importlib
import logging
import pkgutil
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.providers.base import Provider
    from app.settings import Settings

log = logging.getLogger(__name__)
_SKIP = {"base", "http"}
IMPORT_ERRORS: dict[str, str] = {}


@lru_cache
def registry() -> dict[str, type[Provider]]:
    from app.providers.base import Provider

    found: dict[str, type[Provider]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{__name__}.{info.name}")
        except Exception as exc:  # pragma: no cover - depends on the environment
            IMPORT_ERRORS[info.name] = f"{type(exc).__name__}: {exc}"
            log.warning("provider module %s failed to import: %s", info.name, exc)
            continue
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Provider) and obj is not Provider and getattr(obj, "name", None):
                if obj.__module__ == module.__name__:
                    found[obj.name] = obj
    return found


def provider_class(name: str) -> type[Provider] | None:
    return registry().get(name)


class Providers:
    """One adapter instance per provider for a process; adapters keep their HTTP clients."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._instances: dict[str, Provider] = {}

    def get(self, name: str) -> Provider | None:
        if name not in self._instances:
            cls = provider_class(name)
            if cls is None:
                return None
            self._instances[name] = cls(self.settings)
        return self._instances[name]

    def available(self, name: str) -> bool:
        p = self.get(name)
        return bool(p and p.available())

    async def aclose(self) -> None:
        for p in self._instances.values():
            await p.aclose()
