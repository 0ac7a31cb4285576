"""Each fault scenario keeps its run: the service logs, the broker's log and (on SQLite) the
databases stay under ``var/test-artifacts/faults/<database>/<scenario>/`` after the test,
and when a check fails the tail of every log is printed with the failure, so a red run
says what the services were doing."""

from __future__ import annotations

import re
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.support import TEST_DATABASE_URL

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "faults"
TAIL_LINES = 40


@pytest.fixture
def run_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    database = "postgresql" if TEST_DATABASE_URL else "sqlite"
    path = ARTIFACTS / database / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    request.node.stash[RUN_DIR] = path
    yield path


RUN_DIR = pytest.StashKey[Path]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    path = item.stash.get(RUN_DIR, None)
    if report.failed and path is not None:
        for log in sorted(path.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-TAIL_LINES:]
            report.sections.append((f"{log.name} (last {len(lines)} lines; all of it in {path})", "\n".join(lines)))
    return report
