"""Never lose an acknowledged prediction, never let one event stop the log: a real model server process
(``python -m model_server`` with a small scikit-learn model) and real stores (the ES-API server, SQLite),
faults injected for real (kill -9, SIGSTOP, refused connections, SIGTERM, poison events, a tiny log), every
event counted. The faults themselves live in ``tests.fixtures.chaos`` (``bench/chaos.py`` runs the same)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures import chaos
from tests.fixtures.osmem import _start as start_osmem
from tests.fixtures.tiny_model import TinyModel, write_tiny_model

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return write_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def stores(tmp_path: Path, tiny: TinyModel) -> Iterator[chaos.Stores]:
    started: list[Any] = []

    def new_es() -> Any:
        server = start_osmem()
        started.append(server)
        return server

    yield chaos.Stores(tmp_path, tiny, new_es)
    for server in started:
        server.close()


def _run(fault: Callable[[chaos.Stores], chaos.Tally], stores: chaos.Stores) -> chaos.Tally:
    tally = fault(stores)
    assert not tally.other, tally.other  # every request answered 200 or (when the log is full) 503
    assert tally.lost == 0, tally.row()
    assert tally.duplicated == 0, tally.row()
    return tally


def test_kill_9_with_the_store_up_loses_nothing(stores: chaos.Stores) -> None:
    tally = _run(chaos.store_up_kill9, stores)
    assert len(tally.acknowledged) == tally.sent == tally.stored


def test_kill_9_during_a_store_hang_loses_nothing(stores: chaos.Stores) -> None:
    tally = _run(chaos.store_hang_kill9, stores)
    assert len(tally.acknowledged) == tally.sent == tally.stored == 210


def test_kill_9_while_the_store_refuses_connections_loses_nothing(stores: chaos.Stores) -> None:
    tally = _run(chaos.store_refusing_kill9, stores)
    assert len(tally.acknowledged) == tally.sent == tally.stored == 210


def test_sigterm_during_an_outage_leaves_the_log_for_the_next_start(stores: chaos.Stores) -> None:
    tally = _run(chaos.sigterm_during_outage, stores)
    assert len(tally.acknowledged) == tally.sent == tally.stored == 120


def test_a_sibling_process_ships_the_log_of_a_killed_worker(stores: chaos.Stores) -> None:
    tally = _run(chaos.sibling_adopts_killed_worker, stores)
    assert len(tally.acknowledged) == tally.sent == tally.stored == 150


def test_a_poison_event_is_dead_lettered_and_every_other_event_stored(stores: chaos.Stores) -> None:
    tally = _run(chaos.poison_surrogate_sqlite, stores)
    assert tally.stored == tally.sent - 1 == 70 and tally.dead_lettered == 1
    [letter] = chaos.ModelServer(stores.model, "", stores.workdir / "poison").dead_letters()
    assert "surrogate" in letter["reason"] and letter["event"]["features"]["store_id"] == "\ud800"


def test_a_mapping_conflict_dead_letters_only_the_conflicting_events(stores: chaos.Stores) -> None:
    tally = _run(chaos.mapping_conflict_es, stores)
    assert tally.stored == 60 and tally.dead_lettered == 3 and len(tally.acknowledged) == 63
    letters = chaos.ModelServer(stores.model, "", stores.workdir / "conflict").dead_letters()
    assert all("store_id" in d["reason"] for d in letters), letters


def test_a_full_log_refuses_with_503_is_not_ready_and_loses_nothing_acknowledged(stores: chaos.Stores) -> None:
    tally = _run(chaos.tiny_log, stores)
    assert tally.refused > 0 and len(tally.acknowledged) > 0
    assert tally.stored == len(tally.acknowledged) == tally.sent - tally.refused
