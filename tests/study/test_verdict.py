"""study/verdict.py: the call, its wording, and numbers that are rounded and never nan."""

import numpy as np
import pandas as pd
import pytest

from blendaug.study.stats import compare_contrasts, mean_metric
from blendaug.study.verdict import (
    HELPS,
    HURTS,
    NO_DIFFERENCE,
    NOT_ESTIMABLE,
    decimals_for,
    format_number,
    format_p,
    mean_sd_cell,
    verdict,
)

ACC = mean_metric(lambda r: r)


@pytest.fixture(scope="module")
def stats():
    rng = np.random.default_rng(0)
    ref = {s: (rng.random(60) < 0.6).astype(float) for s in range(5)}
    better = {s: (rng.random(60) < 0.9).astype(float) for s in range(5)}
    same = {s: (rng.random(60) < 0.6).astype(float) for s in range(5)}
    return compare_contrasts({"better": (better, ref), "same": (same, ref)}, ACC, study_seed=0, stream=("t", "acc"))


def test_numbers_are_rounded_to_their_uncertainty():
    assert decimals_for(0.032) == 3 and decimals_for(22.5) == 0 and decimals_for(0.5) == 2
    assert format_number(0.6061, 0.0321) == "0.606" and format_number(43.7, 22.5) == "44"
    assert format_number(0.05123, 0.0031, signed=True) == "+0.0512"
    assert format_number(-0.0001, 0.01, signed=True) == "0.000"  # no "-0.000"
    assert format_number(0.000123) == "0.000123" and format_number(0.0) == "0"
    assert format_number(float("nan")) == "" and format_number(float("inf"), 0.1) == ""


def test_p_values():
    assert format_p(0.0004) == "p < 0.001" and format_p(0.0123) == "p = 0.012" and format_p(0.345) == "p = 0.34"
    assert format_p(0.999) == "p = 1" and format_p(float("nan")) == ""


def test_mean_sd_cells_never_say_nan():
    assert mean_sd_cell(0.6061, 0.0321, 2).text == "0.606 ± 0.032"
    assert mean_sd_cell(100.0, 0.0, 2).text == "100 ± 0"
    assert mean_sd_cell(0.5, float("nan"), 1) == mean_sd_cell(0.5, 0.2, 1)  # one seed: the mean alone
    empty = mean_sd_cell(float("nan"), float("nan"), 0, n_undefined=2)
    assert empty.text == "" and "every seed" in empty.footnote and "no predictions" in empty.footnote
    part = mean_sd_cell(0.5, 0.1, 2, n_undefined=1)
    assert part.text == "0.50 ± 0.10" and "1 of 3 seeds" in part.footnote
    assert "nan" not in part.text + empty.text


def test_helps_hurts_and_direction(stats):
    v = verdict(stats["better"], arm="blended", reference="baseline", metric="accuracy")
    assert v.call == HELPS and v.line.startswith("blended vs baseline, accuracy: helps, +0.")
    assert "Holm p" in v.line and "5 seeds × 60 test images" in v.line
    lower = verdict(stats["better"], arm="blended", reference="baseline", metric="count_mape", lower_is_better=True)
    assert lower.call == HURTS


def test_no_detectable_difference_gives_the_detectable_effect(stats):
    v = verdict(stats["same"], arm="paste", reference="baseline", metric="accuracy")
    assert v.call == NO_DIFFERENCE
    assert "cannot be told apart with these 5 seeds and 60 test images" in v.line
    assert "seeds would be needed for" in v.line or "more test images" in v.line


def test_the_line_names_replication_budget_and_convergence(stats):
    v = verdict(stats["better"], arm="blended", reference="baseline", metric="mAP50", replicate="synthetic",
                budget="images", epochs=(15, 30), reference_rising=(3, 5), curve="val mAP50")
    assert "replicate: synthetic (each seed also redraws GAN sampling" in v.line
    assert "budget: images (blended 15 epochs, baseline 30)" in v.line
    assert v.line.endswith("Not converged: baseline (val mAP50 still rising in 3 of 5 seeds); more epochs may "
                           "close this gap.")
    arm_late = verdict(stats["better"], arm="blended", reference="baseline", metric="mAP50", arm_rising=(1, 5))
    assert "more epochs may widen this gap" in arm_late.line
    none = verdict(stats["better"], arm="blended", reference="baseline", metric="mAP50", arm_rising=(0, 5))
    assert "converged" not in none.line


def test_a_contrasts_csv_row_reads_the_same(stats, tmp_path):
    direct = verdict(stats["same"], arm="paste", reference="baseline", metric="accuracy")
    assert verdict(stats["same"].to_dict(), arm="paste", reference="baseline", metric="accuracy") == direct
    # Through a CSV file and pandas: numpy scalars, empty notes read back as nan.
    pd.DataFrame([stats["same"].to_dict()]).to_csv(tmp_path / "c.csv", index=False)
    row = pd.read_csv(tmp_path / "c.csv").iloc[0].to_dict()
    assert verdict(row, arm="paste", reference="baseline", metric="accuracy") == direct


def test_undefined_statistics_are_not_estimable():
    res = compare_contrasts({"x": ({0: np.zeros(5)}, {0: np.zeros(5)})},
                            mean_metric(lambda r: float("nan")), study_seed=0, stream=("t", "m"))["x"]
    v = verdict(res, arm="a", reference="b", metric="precision")
    assert v.call == NOT_ESTIMABLE and "nan" not in v.line


def test_one_seed_says_what_the_interval_covers():
    rng = np.random.default_rng(1)
    res = compare_contrasts({"x": ({0: (rng.random(40) < 0.9) * 1.0}, {0: (rng.random(40) < 0.5) * 1.0})}, ACC,
                            study_seed=0, stream=("t", "acc"))["x"]
    v = verdict(res, arm="a", reference="b", metric="accuracy")
    assert "1 seed × 40 test images; one seed: the interval covers test-image variance only" in v.line


def test_tiles_resampled_by_frame_say_so_and_project_seeds_over_frames(stats):
    from dataclasses import replace

    tiled = replace(stats["same"], n_groups=6)  # the 60 test images are tiles of 6 frames
    v = verdict(tiled, arm="paste", reference="baseline", metric="accuracy")
    assert "5 seeds × 60 test tiles of 6 frames" in v.line
    assert "cannot be told apart with these 5 seeds and 60 test tiles of 6 frames" in v.line
    # read back from contrasts.csv, an untiled row's empty n_groups is nan: images, as before
    row = stats["same"].to_dict()
    row["n_groups"] = float("nan")
    assert "60 test images" in verdict(row, arm="paste", reference="baseline", metric="accuracy").line
