"""`db_url` for test modules that need one database only: browser flows and the access matrix,
whose code under test has no dialect branches (their API and unit counterparts run on both).
Bind it in the module: `db_url = sqlite_only.sqlite_db_url  # the db_url fixture, SQLite only`."""

import pytest

from tests.support.db import sqlite_copy


@pytest.fixture(name="db_url", params=["sqlite"])
def sqlite_db_url(request, tmp_path, sqlite_template) -> str:
    return sqlite_copy(sqlite_template, tmp_path)
