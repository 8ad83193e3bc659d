"""Many people editing the same rows at once, over real HTTP against a threaded server: 20
clients link and unlink the same five rows, each from the version it last read (`make soak`:
50 clients, 40 edits each, ten rows). Every change is made from the version its writer saw
(no lost update), every other answer is a conflict the user is told about, and the rows,
their history and the kept tab counts agree at the end. Runs on the configured database
(SQLite here, PostgreSQL when DATABASE_URL says so)."""

from __future__ import annotations

import random
import re
import threading
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from tests.builders import PASSWORD, serve_app, unique_variants
from tests.conftest import CSRF_PATTERN
from webapp.extensions import db
from webapp.linking.grid import status_counts
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
def test_many_clients_editing_the_same_rows_lose_no_update(app, contested):
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
                    if chance.random() < 0.7:
                        action, answer = "link", editor.link(row, version, chance.choice(targets))
                    else:
                        action, answer = "unlink", editor.unlink(row, version)
                    with lock:
                        answers.append((row, action, version, answer.status_code, answer.text))
            except Exception as error:  # a client that could not go on is a failure too
                with lock:
                    failures.append(repr(error))

        threads = [threading.Thread(target=work, args=pair) for pair in enumerate(editors)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)

    assert not failures
    assert len(answers) == clients * edits
    statuses = Counter(status for *_, status, _ in answers)
    assert set(statuses) <= {200, 409}, statuses  # applied, or a conflict: never an error
    assert statuses[409] > 0, f"{clients} clients on {len(rows)} rows never collided"
    for *_, status, body in answers:
        if status == 409:
            assert CONFLICT in body  # the fresh row, with the notice, in place of the stale one

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
            if r == row and status == 200:
                sent[action][version] += 1
        made = {"link": Counter(), "unlink": Counter()}
        for event in events:
            made[event.action][event.before["version"]] += 1
        assert made["link"] == sent["link"]
        assert made["unlink"] <= sent["unlink"]
        if events:  # the row is what its last writer made it
            assert events[-1].after["store_sku_id"] == link.store_sku_id
            assert events[-1].after["state"] == link.state.value
        assert (link.store_sku_id is None) == (link.state is LinkState.NOT_LINKED)

    per_state = select(Link.state, func.count()).where(Link.account_id == account.id)
    counted = dict(db.session.execute(per_state.group_by(Link.state)).all())
    kept = status_counts(db.session, account.id)
    for state in LinkState:
        assert kept[state.value] == counted.get(state, 0), state
