"""`make run` stops what it started: a child that does not stop when asked is killed with
everything it started itself (a worker's work-horse)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from webapp import devserver

# A worker in the middle of a job: it ignores SIGTERM (a warm shutdown waits for the job) and
# has forked a work-horse that goes on with the job; it prints the horse's pid.
STUBBORN_WORKER = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
horse = os.fork()
if horse == 0:
    while True:
        time.sleep(0.1)
print(horse, flush=True)
while True:
    time.sleep(0.1)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] != "Z"  # a zombie has stopped, only not been reaped


def test_a_worker_that_does_not_stop_is_killed_with_its_work_horse(monkeypatch):
    monkeypatch.setattr(devserver, "STOP_TIMEOUT", 0.5)
    process = subprocess.Popen(
        [sys.executable, "-c", STUBBORN_WORKER],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # as Children.start starts every child
    )
    horse = int(process.stdout.readline())
    assert _alive(horse)

    devserver._terminate(devserver.Child("sync worker", process, None))

    assert process.poll() is not None
    deadline = time.monotonic() + 5
    while _alive(horse) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(horse)
