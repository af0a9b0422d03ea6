"""What the fixtures in tests/conftest.py are made of, and what tests import directly.

db.py         migrated SQLite template, the session's PostgreSQL database, emptying it
settings.py   test settings (fast demo latency and polling) and the environment of a subprocess
clients.py    in-process clients that behave like a page (CSRF), waiting for takes
live.py       `python -m app …` as a subprocess: a live server, a worker
factories.py  rows written directly: users, boards, members, comparisons with ready takes, votes
team.py       a board's whole cast (admin, owner, editor, voter, viewer, outsider), signed in
services.py   finding PostgreSQL, Redis and Chromium (CI=true: a missing one fails)
browser.py    Debian's Chromium through Playwright, pages watched for errors
ci.py         the pytest plugin that fails any skip under CI=true
sqlite_only.py, player_fixture.py: a SQLite-only `db_url`; the synced-player test page and clips
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository root."""
