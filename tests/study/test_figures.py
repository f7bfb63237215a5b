import numpy as np
import pandas as pd
from PIL import Image

from blendaug.study.figures import spread_positions, sweep_plot


def test_spread_positions_put_series_side_by_side_around_each_value():
    values = np.array([10.0, 25.0, 100.0])
    for log in (True, False):
        xs = spread_positions(values, 11, log)
        assert xs.shape == (11, 3)
        # Each value's series are distinct, ordered, and centred on it (geometrically on a log axis).
        assert (np.diff(xs, axis=0) > 0).all()
        centre = np.exp(np.log(xs).mean(axis=0)) if log else xs.mean(axis=0)
        np.testing.assert_allclose(centre, values)
        # ... and stay clear of the neighbouring value's group.
        assert xs[-1, 0] < xs[0, 1] and xs[-1, 1] < xs[0, 2]
    np.testing.assert_allclose(spread_positions(values, 1, True), values[None, :])
    assert spread_positions(np.array([5.0]), 3, False).shape == (3, 1)


def _contrasts(n_contrasts: int) -> pd.DataFrame:
    rows = []
    for k in range(n_contrasts):
        for cell, d in (("train_size=10", 0.05), ("train_size=25", 0.01)):
            rows.append({"cell": cell, "task": "detection", "metric": "map50", "arm": f"arm{k}",
                         "reference": "baseline", "diff": d + 0.001 * k, "ci_low": d - 0.04, "ci_high": d + 0.05})
    return pd.DataFrame(rows)


def test_sweep_plot_draws_a_train_size_sweep_and_its_bytes_are_stable(tmp_path):
    cells = {"train_size=10": {"dataset.train_size": 10}, "train_size=25": {"dataset.train_size": 25}}
    a = sweep_plot(_contrasts(12), cells, "detection", "map50", tmp_path / "a.png")
    b = sweep_plot(_contrasts(12), cells, "detection", "map50", tmp_path / "b.png")
    assert a.read_bytes() == b.read_bytes()
    with Image.open(a) as im:
        assert im.width > im.height > 100
    # One cell is no sweep; no contrasts of that metric, no plot.
    assert sweep_plot(_contrasts(2), {"train_size=10": cells["train_size=10"]}, "detection", "map50",
                      tmp_path / "c.png") is None
    assert sweep_plot(_contrasts(2), cells, "detection", "map50_95", tmp_path / "d.png") is None
