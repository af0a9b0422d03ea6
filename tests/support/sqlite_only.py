"""`db_url` for test modules that need one database only: browser flows and the access matrix,
whose code under test has no dialect branches (their API and unit counterparts run on both).
Import it into the module: `from tests.sqlite_only import db_url  # noqa: F401`."""

import shutil

import pytest


@pytest.fixture(name="db_url", params=["sqlite"])
def sqlite_db_url(request, tmp_path, sqlite_template) -> str:
    path = tmp_path / "takes.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"
