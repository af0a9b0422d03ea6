"""A pytest plugin (loaded by tests/conftest.py): with CI=true nothing may be skipped."""

from __future__ import annotations

import pytest

from tests.support.services import IN_CI


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A skip anywhere (a marker, importorskip, a missing service) is reported as a failure
    under CI=true, so a run that quietly tested less cannot pass."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may be skipped: {report.longrepr}"
