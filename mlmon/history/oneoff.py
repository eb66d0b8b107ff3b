"""A one-off run over a past range (``mlmon stats|drift --start --end``): the service's window job on a store that
only reads, its state in a temporary folder, so nothing of the live service changes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from mlmon.history.dry_store import DryStore
from mlmon.history.outcome import WindowJobSetup
from mlmon.history.windows import parse_range
from mlmon.settings import CommonSettings
from mlmon.spec import load_spec
from mlmon.store.base import TimeWindow

NOTE = "one-off run over a past range by event time: no report stored, no incident, no email"


@contextmanager
def range_setup(
    settings: CommonSettings, start: str | None, end: str | None, **extra: Any
) -> Iterator[tuple[TimeWindow, WindowJobSetup]]:
    """The range and a window-job setup with ``settings`` (plus ``extra`` overrides) on a read-only store."""
    from mlmon.store.factory import open_store

    span = parse_range(start, end)
    spec = load_spec(settings.model_spec)
    store = open_store(settings, spec)
    try:
        with TemporaryDirectory(prefix="mlmon-range-") as workdir:
            overrides = {**settings.model_dump(), **extra}
            yield span, WindowJobSetup(DryStore(store), Path(workdir), overrides=overrides)
    finally:
        store.close()
