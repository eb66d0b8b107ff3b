from __future__ import annotations

import numpy as np
import pytest

from mlmon.notify.chart import BASELINE_RGB, CURRENT_RGB, bar_chart_png, encode_png
from tests.unit.notify.pngcheck import read_png


def test_encode_png_round_trips_pixels() -> None:
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, size=(13, 29, 3), dtype=np.uint8)
    assert np.array_equal(read_png(encode_png(img)), img)


def _bar_heights(img: np.ndarray, rgb: tuple[int, int, int]) -> list[int]:
    mask = (img == np.array(rgb, dtype=np.uint8)).all(axis=2)
    columns = mask.sum(axis=0)
    # one value per bar: the tallest column of each run of coloured columns
    heights, run = [], 0
    for c in [*columns.tolist(), 0]:
        if c:
            run = max(run, int(c))
        elif run:
            heights.append(run)
            run = 0
    return heights


def test_bar_heights_follow_the_shares() -> None:
    img = read_png(bar_chart_png([0.5, 0.3, 0.2], [0.2, 0.3, 0.5], height=90))
    base = _bar_heights(img, BASELINE_RGB)
    cur = _bar_heights(img, CURRENT_RGB)
    assert len(base) == len(cur) == 3
    assert base[0] == cur[2] == max(base + cur)  # 0.5 is the tallest on both sides
    assert base[1] == cur[1]
    assert base[0] / base[2] == pytest.approx(2.5, rel=0.05)


def test_tiny_shares_stay_visible_and_many_bins_fit() -> None:
    img = read_png(bar_chart_png([0.001] + [0.999 / 119] * 119, [0.0] * 119 + [1.0]))
    assert img.shape[1] <= 2 * 4 + 120 * 3
    assert len(_bar_heights(img, BASELINE_RGB)) >= 1
    assert (img[:, 4:7] == np.array(BASELINE_RGB, dtype=np.uint8)).all(axis=2).any()


@pytest.mark.parametrize(
    ("base", "cur"),
    [([], []), ([0.5, 0.5], [1.0]), ([float("nan")], [1.0]), ([-0.1], [1.0])],
)
def test_bad_input_is_refused(base: list[float], cur: list[float]) -> None:
    with pytest.raises(ValueError):
        bar_chart_png(base, cur)


def test_all_zero_shares_still_give_a_valid_png() -> None:
    img = read_png(bar_chart_png([0.0, 0.0], [0.0, 0.0]))
    assert not (img == np.array(CURRENT_RGB, dtype=np.uint8)).all(axis=2).any()
