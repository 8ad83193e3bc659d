"""Many people editing the same rows at once, over real HTTP against a threaded server: 20
clients link, unlink and assign the same five rows, each link and unlink from the version it
last read, while a real worker runs the Assign jobs they start (`make soak`: 50 clients, 40
edits each, ten rows). Every change is made from the version its writer saw (no lost update),
every other answer is a conflict the user is told about, every Assign job finishes without
overwriting anyone, and the rows, their history and the kept tab counts agree at the end.
Runs on the configured database (SQLite here, PostgreSQL when DATABASE_URL says so)."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import select

from tests.builders import PASSWORD, kept_counts_agree, serve_app, unique_variants
from tests.conftest import CSRF_PATTERN
from webapp.extensions import db
from webapp.jobs.models import JobKind, JobRun, JobStatus
from webapp.linking.models import Link, LinkEvent, LinkState

# (clients, edits each, rows): the everyday run, and the soak run of `make soak`.
EVERYDAY = (20, 8, 5)
SOAK = (50, 40, 10)
VERSION = re.compile(r'name="version" value="(\d+)"')
CONFLICT = "Someone else changed this row a moment ago"


class Editor:
    """One person in a browser: a logged-in session that opens a row's editor, reads the
    version there, and saves or unlinks from it."""

    def __init__(self, base: str, email: str):
        self.base = base
        self.http = requests.Session()
        page = self.http.get(f"{base}/login", timeout=30).text
        token = _token(page)
        answer = self.http.post(
            f"{base}/login",
            data={"email": email, "password": PASSWORD, "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        assert answer.status_code == 302
        self.http.headers.update(
            {"HX-Request": "true", "X-CSRFToken": _token(self.http.get(base, timeout=30).text)}
        )

    def version_of(self, link_id: int) -> int:
        editor = self.http.get(f"{self.base}/links/{link_id}/edit", timeout=30)
        assert editor.status_code == 200, editor.status_code
        return int(VERSION.search(editor.text).group(1))

    def link(self, link_id: int, version: int, store_sku_id: int) -> requests.Response:
        form = {"version": version, "store_sku_id": store_sku_id, "quantity": 1}
        return self.http.post(f"{self.base}/links/{link_id}", data=form, timeout=30)

    def unlink(self, link_id: int, version: int) -> requests.Response:
        return self.http.post(
            f"{self.base}/links/{link_id}/unlink", data={"version": version}, timeout=30
        )

    def assign(self, link_id: int) -> requests.Response:
        """Tick the row in the grid and press Assign: a job makes it Linked if it is Mapped."""
        return self.http.post(f"{self.base}/bulk/assign", data={"link_id": link_id}, timeout=30)


def _token(page: str) -> str:
    match = CSRF_PATTERN.search(page)
    return match.group(1) or match.group(2)


@pytest.fixture
def contested(shop, request):
    """Some Not Linked rows, and two store SKUs each could be linked to."""
    owner, store, account = shop
    clients, edits, rows = request.param
    rows = list(
        db.session.scalars(
            select(Link.id)
            .where(Link.account_id == account.id, Link.state == LinkState.NOT_LINKED)
            .order_by(Link.id)
            .limit(rows)
        )
    )
    targets = [sku.id for sku in unique_variants(store.id, 2)]
    return owner, account, rows, targets, clients, edits


@pytest.mark.parametrize(
    "contested",
    [
        pytest.param(EVERYDAY, id="20-clients"),
        pytest.param(SOAK, id="soak", marks=pytest.mark.soak),
    ],
    indirect=True,
)
def test_many_clients_editing_the_same_rows_lose_no_update(app, contested, run_jobs):
    owner, account, rows, targets, clients, edits = contested
    answers: list[tuple[int, str, int, int, str]] = []  # row, action, version sent, status, body
    failures: list[str] = []
    lock = threading.Lock()

    with serve_app(app) as base:
        editors = [Editor(base, owner.email) for _ in range(clients)]
        start = threading.Barrier(clients)

        def work(number: int, editor: Editor) -> None:
            chance = random.Random(number)
            try:
                start.wait()
                for _ in range(edits):
                    row = chance.choice(rows)
                    version = editor.version_of(row)
                    roll = chance.random()
                    if roll < 0.6:
                        action, answer = "link", editor.link(row, version, chance.choice(targets))
                    elif roll < 0.85:
                        action, answer = "unlink", editor.unlink(row, version)
                    else:
                        action, answer = "assign", editor.assign(row)
                    with lock:
                        answers.append((row, action, version, answer.status_code, answer.text))
            except Exception as error:  # a client that could not go on is a failure too
                with lock:
                    failures.append(repr(error))

        threads = [threading.Thread(target=work, args=pair) for pair in enumerate(editors)]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):  # the worker, at the same time
            run_jobs()
            time.sleep(0.02)
        for thread in threads:
            thread.join(timeout=600)
        run_jobs()

    assert not failures
    assert len(answers) == clients * edits
    edits_made = [answer for answer in answers if answer[1] != "assign"]
    statuses = Counter(status for *_, status, _ in edits_made)
    assert set(statuses) <= {200, 409}, statuses  # applied, or a conflict: never an error
    assert statuses[409] > 0, f"{clients} clients on {len(rows)} rows never collided"
    for *_, status, body in edits_made:
        if status == 409:
            assert CONFLICT in body  # the fresh row, with the notice, in place of the stale one
    # Assign starts a job when the row is Mapped, and says why not when it is not any more.
    presses = Counter(status for _, action, _, status, _ in answers if action == "assign")
    assert set(presses) <= {200, 422} and presses[200] > 0, presses
    db.session.expire_all()
    assigns = db.session.scalars(select(JobRun).where(JobRun.kind == JobKind.ASSIGN)).all()
    assert assigns and all(run.status is JobStatus.FINISHED for run in assigns), [
        (run.status, run.error) for run in assigns
    ]
    assert sum(run.result["linked"] for run in assigns) > 0

    db.session.expire_all()
    for row in rows:
        link = db.session.get(Link, row)
        history = select(LinkEvent).where(LinkEvent.link_id == row).order_by(LinkEvent.id)
        events = list(db.session.scalars(history))
        # Each change was made from the version before it, and from no version twice.
        assert [event.before["version"] for event in events] == list(range(1, len(events) + 1))
        assert link.version == len(events) + 1
        # ... and from the version its writer had read: every link that was accepted is one
        # change from exactly the version it sent (an unlink of a row already Not Linked is
        # accepted without a change).
        sent = {"link": Counter(), "unlink": Counter()}
        for r, action, version, status, _ in answers:
            if r == row and status == 200 and action in sent:
                sent[action][version] += 1
        made = {"link": Counter(), "unlink": Counter(), "assign": Counter()}
        for event in events:
            made[event.action][event.before["version"]] += 1
            if event.action == "assign":  # a job only assigns a row that is Mapped then
                assert event.before["state"] == LinkState.MAPPED.value
        assert made["link"] == sent["link"]
        assert made["unlink"] <= sent["unlink"]
        if events:  # the row is what its last writer made it
            assert events[-1].after["store_sku_id"] == link.store_sku_id
            assert events[-1].after["state"] == link.state.value
        assert (link.store_sku_id is None) == (link.state is LinkState.NOT_LINKED)

    kept_counts_agree(account.id)
