"""Reliability drills of the local backend (issue 13), bounded in time, on this machine only.

* A worker pool killed with SIGKILL about every second while 3,000 tasks run: afterwards every
  task has exactly one final result, none is lost or dead-lettered, and each re-execution
  (at-least-once) is traced to a process that was killed holding its lease.
* The queue file's directory on a full disk: a small tmpfs where this machine lets us mount
  one, else a simulated ``SQLITE_FULL`` (SQLite's ``max_page_count`` on the connection); the
  test says which ran. ``send`` raises a clear error, nothing accepted is lost, and the worker
  survives the full disk and finishes once space returns.
* Two apps in two processes sharing one file, and a worker restarted with a code version that
  no longer knows a task: those messages are dead-lettered with the reason, once.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.local.errors import LocalDiskFull
from adapters.local.events import Event, Trouble
from adapters.local.store import LocalBackend
from adapters.local.worker import Worker
from dispatcher import Cause, Dispatcher

ROOT = Path(__file__).resolve().parents[2]
TASKS = 3_000


@pytest.fixture
def drill_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "TEST_QUEUE": str(tmp_path / "drill.sqlite3"),
        "TEST_MARKS": str(tmp_path / "marks"),
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "200",
    }
    saved = {key: os.environ.get(key) for key in ("TEST_QUEUE", "TEST_MARKS", "APP_VERSION")}
    os.environ.update(TEST_QUEUE=env["TEST_QUEUE"], TEST_MARKS=env["TEST_MARKS"])
    os.environ.pop("APP_VERSION", None)
    sys.modules.pop("tests.apps.drill", None)
    yield env
    for process in _STARTED:  # never leave a worker behind, even when a test failed
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    _STARTED.clear()
    sys.modules.pop("tests.apps.drill", None)
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


_STARTED: list[subprocess.Popen[str]] = []


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "dispatcher.cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # so that killing it takes its pool's processes too
    )
    _STARTED.append(process)
    return process


def _run(env: dict[str, str], *args: str) -> str:
    process = _cli(env, *args)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    return output


def _children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (from /proc: the drill runs on Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


# --- SIGKILL --------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_pool_killed_every_second_loses_nothing(
    drill_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.apps.drill import app, step

    handles = step.map([(n,) for n in range(TASKS)])
    app.close()
    pool = _cli(drill_env, "worker", "tests.apps.drill:app", "-c", "3", "--burst", "--quiet")
    chance = random.Random(13)
    killed: list[int] = []
    deadline = time.monotonic() + 50
    while pool.poll() is None and time.monotonic() < deadline:
        time.sleep(chance.uniform(0.6, 1.2))
        workers = _children(pool.pid)
        if workers and pool.poll() is None:
            victim = chance.choice(workers)
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)
    assert pool.poll() is not None, f"the pool did not finish within 50 s ({len(killed)} kills)"
    output = pool.communicate(timeout=10)[0]
    assert pool.returncode == 0, output
    assert len(killed) >= 3, f"the drill ended before it could kill much: {output}"
    replaced = re.findall(r"was killed by SIGKILL; started another", output)
    assert 1 <= len(replaced) <= len(killed), output

    store = LocalBackend(drill_env["TEST_QUEUE"])
    statuses = Counter(row[0] for row in store.db.execute("SELECT status FROM results"))
    assert statuses == {"succeeded": TASKS}  # exactly one final result each: none lost
    assert [h.result(timeout=0) for h in handles] == list(range(TASKS))
    assert store.pending() == 0 and store.dead_letters.entries() == []

    runs: dict[int, list[int]] = defaultdict(list)  # message -> the pids that ran it, in order
    for line in Path(drill_env["TEST_MARKS"]).read_text().splitlines():
        n, pid = map(int, line.split())
        runs[n].append(pid)
    assert sorted(runs) == list(range(TASKS))
    again = {n: pids for n, pids in runs.items() if len(pids) > 1}
    for n, pids in again.items():  # every run but the last was cut short by a kill
        assert set(pids[:-1]) <= set(killed), (n, pids, killed)
    reexecutions = sum(len(pids) - 1 for pids in again.values())
    store.close()
    with capsys.disabled():
        print(
            f"\n  SIGKILL drill: {TASKS} tasks, {len(killed)} workers killed, "
            f"{len(replaced)} replaced, {reexecutions} re-executions of {len(again)} messages, "
            "0 lost, 0 dead letters"
        )


# --- a full disk ----------------------------------------------------------------------------


@dataclass
class Disk:
    """A directory whose filesystem can be filled and freed: a small ``tmpfs`` of its own, or
    (where mounting is not allowed) SQLite's ``max_page_count`` on the test's connection."""

    path: Path
    kind: str
    filler: Path | None = None

    def fill(self, store: LocalBackend) -> None:
        if self.kind == "tmpfs":
            self.filler = self.path / "filler"
            with self.filler.open("wb") as out, contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * 65_536)
                    out.flush()
            return
        (pages,) = store.db.execute("PRAGMA page_count").fetchone()
        store.db.execute(f"PRAGMA max_page_count = {int(pages):d}")

    def free(self, store: LocalBackend) -> None:
        if self.kind == "tmpfs":
            assert self.filler is not None
            self.filler.unlink()
            return
        store.db.execute("PRAGMA max_page_count = 1073741823")


@pytest.fixture(params=["small", "simulated"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Disk]:
    path = tmp_path / "disk"
    path.mkdir()
    mounted = False
    if request.param == "small" and sys.platform == "linux" and shutil.which("mount"):
        tried = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", str(path)],
            capture_output=True,
            check=False,
        )
        mounted = tried.returncode == 0
    yield Disk(path, "tmpfs" if mounted else "simulated")
    if mounted:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.slow
def test_a_full_disk_refuses_sends_loses_nothing_and_the_worker_resumes(
    disk: Disk, capsys: pytest.CaptureFixture[str]
) -> None:
    app = Dispatcher("disk")
    store = LocalBackend(disk.path / "queue.sqlite3", app)
    app.use(store)

    @app.task(name="echo")
    def echo(n: int) -> str:
        return f"{n}:" + "x" * 3_000  # a result bigger than its message: settling needs room

    accepted = [echo.delay(n) for n in range(200)]
    disk.fill(store)
    refused: LocalDiskFull | None = None
    for n in range(200, 100_000):
        try:
            accepted.append(echo.delay(n))
        except LocalDiskFull as error:
            refused = error
            break
    assert refused is not None, f"{disk.kind}: sends never failed"
    assert str(refused).startswith(
        f"cannot send to the local queue {store.path}: the disk holding it is full; nothing of"
        " it was stored (SQLite: database or disk is full)"
    )
    queued = {row[0] for row in store.db.execute("SELECT id FROM messages")}
    assert queued == {handle.id for handle in accepted}  # every accepted message is there

    troubles: list[Trouble] = []

    def on_events(events: list[Event]) -> None:
        for event in events:
            if isinstance(event, Trouble):
                troubles.append(event)
                if len(troubles) == 1:
                    disk.free(store)  # the worker is stuck on the full disk: free some space

    stats = Worker(app, on_events=on_events).run(burst=True)
    assert troubles, f"{disk.kind}: the worker never met the full disk"
    assert "the disk holding it is full" in troubles[0].problem
    assert troubles[0].action.endswith("trying again in 0.1 s")
    assert stats.outcomes == {"ack": len(accepted)} and stats.troubles == len(troubles)
    assert [h.result(timeout=0) for h in accepted] == [
        f"{n}:" + "x" * 3_000 for n in range(len(accepted))
    ]
    assert store.pending() == 0 and store.dead_letters.entries() == []
    echo.delay(-1)  # and sending works again
    app.close()
    with capsys.disabled():
        print(
            f"\n  full disk drill ({disk.kind}): {len(accepted)} accepted, then refused: "
            f"{refused}; the worker met {len(troubles)} trouble(s) and finished them all"
        )


# --- two apps, two code versions -------------------------------------------------------------


@pytest.mark.slow
def test_a_worker_of_a_newer_version_dead_letters_the_tasks_it_no_longer_knows(
    drill_env: dict[str, str],
) -> None:
    old = {**drill_env, "APP_VERSION": "1"}
    for args in (("keep", "1"), ("gone", "2"), ("keep", "3"), ("gone", "4")):
        _run(old, "send", "tests.apps.drill:shop", *args)
    _run(drill_env, "send", "tests.apps.drill:billing", "invoice", "5")  # the other app

    new = {**drill_env, "APP_VERSION": "2"}
    lines = re.sub(r"\d+\.\d+ (ms|s)", "N", _run(new, "worker", "tests.apps.drill:shop", "--burst"))
    ran = [line.split()[:2] for line in lines.splitlines()[1:-1]]
    assert sorted(ran) == [["ack", "keep"]] * 2 + [["dead_letter", "gone"]] * 2
    assert lines.count(": unknown task 'gone'") == 2
    assert lines.splitlines()[-1] == "done: 4 messages in N (2 ack, 2 dead_letter)"

    store = LocalBackend(drill_env["TEST_QUEUE"])
    letters = store.dead_letters.entries()
    assert [(e.task, e.reason, e.cause, e.attempt) for e in letters] == [
        ("gone", "unknown task 'gone'", Cause.UNKNOWN_TASK, 1)
    ] * 2
    assert store.pending(["default"]) == 0  # nothing retried, nothing left behind
    assert store.pending(["billing"]) == 1  # the other app's message is not touched

    again = _run(new, "worker", "tests.apps.drill:shop", "--burst")
    assert again.splitlines()[-1].startswith("done: 0 messages")  # not retried forever
    billed = _run(drill_env, "worker", "tests.apps.drill:billing", "--burst")
    assert "ack invoice" in billed

    _run(old, "dlq", "replay", "tests.apps.drill:shop", "--all")  # the old code is back
    replayed = _run(old, "worker", "tests.apps.drill:shop", "--burst")
    assert replayed.count("ack gone") == 2
    assert store.dead_letters.entries() == [] and store.pending() == 0
    store.close()


def test_children_reads_this_process_tree() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert sleeper.pid in _children(os.getpid())
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sleeper.pid not in _children(os.getpid())
