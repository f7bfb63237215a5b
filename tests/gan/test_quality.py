"""Quality metrics, tiers and feature spaces: exact maths on tiny hand-built inputs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torchmetrics.functional.image import structural_similarity_index_measure

from blendaug.data.errors import DataError
from blendaug.data.imageio import save_image
from blendaug.gan.quality import metrics
from blendaug.gan.quality.classifier import ClassifierConfig, predict, train_classifier
from blendaug.gan.quality.crops import read_real_crops
from blendaug.gan.quality.features import FeatureRequest, build_feature_space
from blendaug.gan.quality.measure import MeasureConfig, Reference, measure_set
from blendaug.gan.quality.memorisation import copy_z, nearest_distances
from blendaug.gan.quality.references import blurred_noise, flat_colour
from blendaug.gan.quality.score import ScoreConfig, finish_table, measure_anchors, score_snapshot
from blendaug.gan.quality.ssim import nearest_real_ssim
from blendaug.gan.quality.tiers import (
    TierRule,
    assign_tiers,
    has_scale,
    normalised_quality,
    normalised_tstr,
    normalised_tstr_se,
    tier_of,
)

TINY = ClassifierConfig(image_size=16, width=8, num_features=16, epochs=10, batch=16)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def pts(*xy: tuple[float, float]) -> np.ndarray:
    return np.array(xy, dtype=np.float64)


# ---- precision / recall / density / coverage -------------------------------------------------


def test_prdc_hand_built_k1():
    # Real radii (k=1) are all 1. P sits in the balls of A and B, Q in those of C and D, R in none.
    real = pts((0, 0), (1, 0), (10, 0), (11, 0))
    fake = pts((0.5, 0), (10.2, 0), (50, 0))
    out = metrics.prdc(real, fake, k=1)
    assert out["precision"] == pytest.approx(2 / 3)
    assert out["density"] == pytest.approx((2 + 2 + 0) / 3)
    assert out["coverage"] == pytest.approx(1.0)
    # Fake radii: P 9.7, Q 9.7, R 39.8 -> A, B (P), C (P, Q) and D (Q, R) are all covered.
    assert out["recall"] == pytest.approx(1.0)


def test_prdc_mode_collapse():
    # All fakes crowd around A: precise, but they cover half the reals and recall one of four.
    real = pts((0, 0), (1, 0), (10, 0), (11, 0))
    fake = pts((0, 0.1), (0, -0.1), (0.1, 0))  # fake radii (k=1): sqrt(0.02) each
    out = metrics.prdc(real, fake, k=1)
    assert out == pytest.approx({"precision": 1.0, "recall": 0.25, "density": 4 / 3, "coverage": 0.5})


def test_prdc_ball_boundary_is_exclusive():
    real = pts((0, 0), (2, 0))  # radii 2
    fake = pts((0, 2), (0, 3))  # (0, 2) is exactly on the ball of (0, 0): outside
    out = metrics.prdc(real, fake, k=1)
    assert out["precision"] == 0.0 and out["coverage"] == 0.0 and out["density"] == 0.0


def test_prdc_identical_grid():
    grid = pts(*[(float(i), 0.0) for i in range(6)])
    out = metrics.prdc(grid, grid.copy(), k=1)
    # Each point is only strictly inside its own ball (neighbours sit on the boundary): density exactly 1.
    assert out == pytest.approx({"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0})


def test_prdc_too_few_points_is_nan():
    out = metrics.prdc(pts((0, 0), (1, 0)), pts((0, 0), (1, 1), (2, 2)), k=2)
    assert all(math.isnan(v) for v in out.values())


# ---- FID / KID -------------------------------------------------------------------------------


def test_fid_identical_is_zero_and_shift_is_exact():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(400, 6))
    assert metrics.fid(real, real.copy()) == pytest.approx(0.0, abs=1e-6)
    # Same covariance, mean moved by (1, 2, 0, ...): FID = |shift|^2 = 5.
    shift = np.array([1.0, 2.0, 0, 0, 0, 0])
    assert metrics.fid(real, real + shift) == pytest.approx(5.0, rel=1e-6)


def test_fid_orders_shifted_gaussians():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(300, 8))
    fids = [metrics.fid(real, rng.normal(size=(300, 8)) + s) for s in (0.0, 0.5, 1.0, 2.0)]
    assert fids == sorted(fids) and fids[0] < 0.5 < fids[-1]


def test_fid_needs_two_samples():
    assert math.isnan(metrics.fid(np.zeros((1, 3)), np.ones((5, 3))))


def test_kid_identical_near_zero_shifted_large_and_seeded():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(200, 8))
    same, _ = metrics.kid(real, real.copy(), subset_size=50, subsets=20, seed=3)
    shifted, _ = metrics.kid(real, real + 1.0, subset_size=50, subsets=20, seed=3)
    # Unbiased MMD on random subsets of 50: zero up to sampling noise, here about 1% of the shifted value.
    assert abs(same) < 0.03 * shifted
    assert metrics.kid(real, real + 1.0, subset_size=50, subsets=20, seed=3)[0] == shifted
    # The global generator is left as it was.
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    metrics.kid(real, real + 1.0, subset_size=50, subsets=5, seed=9)
    assert torch.rand(1) == expected


# ---- SSIM ------------------------------------------------------------------------------------


def test_nearest_real_ssim_matches_torchmetrics():
    rng = np.random.default_rng(4)
    fakes = rng.integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)
    reals = rng.integers(0, 256, (4, 20, 20, 3), dtype=np.uint8)
    reals[2] = np.clip(fakes[1].astype(int) + rng.integers(-15, 16, fakes[1].shape), 0, 255)
    reals[3] = fakes[2]
    ours = nearest_real_ssim(fakes, reals, chunk=2)
    ref = np.array(
        [
            max(
                float(
                    structural_similarity_index_measure(
                        torch.from_numpy(f).permute(2, 0, 1)[None].double(),
                        torch.from_numpy(r).permute(2, 0, 1)[None].double(),
                        data_range=255.0,
                    )
                )
                for r in reals
            )
            for f in fakes
        ]
    )
    np.testing.assert_allclose(ours, ref, atol=1e-5)
    assert ours[2] == pytest.approx(1.0, abs=1e-6) and ours[1] > 0.8 > ours[0]


# ---- anchored quality, TSTR, tiers ---------------------------------------------------------------


def test_normalised_quality_log_scale_exact():
    assert normalised_quality(10.0, 10.0, 1000.0) == pytest.approx(1.0)
    assert normalised_quality(1000.0, 10.0, 1000.0) == pytest.approx(0.0)
    assert normalised_quality(100.0, 10.0, 1000.0) == pytest.approx(0.5)  # the geometric mean is halfway
    assert normalised_quality(2000.0, 10.0, 1000.0) == pytest.approx(-math.log(2) / math.log(100))  # worse than noise
    assert normalised_quality(0.0, 1.0, 100.0) > 1  # better than the real anchor (an exact copy)
    assert math.isnan(normalised_quality(5.0, 10.0, 10.2))  # the anchors do not separate: no scale
    assert math.isnan(normalised_quality(float("nan"), 1.0, 10.0))


def test_normalised_tstr_exact():
    assert normalised_tstr(0.9, 0.9, 3) == pytest.approx(1.0)
    assert normalised_tstr(1 / 3, 0.9, 3) == pytest.approx(0.0)
    assert normalised_tstr(0.6, 0.9, 2) == pytest.approx(0.25)
    assert math.isnan(normalised_tstr(0.6, 0.9, 1)) and math.isnan(normalised_tstr(0.6, 0.36, 3))


def qtable(quality, tstr_norm, copying=None, cls="car"):
    n = len(quality)
    return pd.DataFrame({"snapshot": list(range(1, n + 1)), "class": cls, "quality": quality, "tstr_norm": tstr_norm,
                         "copying": copying if copying is not None else [False] * n})


def test_tiers_from_thresholds_not_ranks():
    rule = TierRule()
    t = qtable([-0.1, 0.2, 0.3, 0.45, 0.6, 0.9, 0.9, float("nan")], [0.9, 0.9, 0.9, 0.9, 0.9, 0.4, 0.2, 0.9])
    assert list(assign_tiers(t, rule)) == ["unusable", "unusable", "low", "mid", "high", "mid", "low", "unusable"]
    # One snapshot alone is not "high" because it is the best of its run.
    assert list(assign_tiers(qtable([0.3], [0.9]))) == ["low"]
    # Without TSTR (one class), quality alone decides.
    assert list(assign_tiers(qtable([0.3, 0.45, 0.7], [float("nan")] * 3))) == ["low", "mid", "high"]


def test_copying_is_flagged_and_optionally_unusable():
    t = qtable([0.9, 0.9], [0.9, 0.9], copying=[True, False])
    assert list(assign_tiers(t)) == ["high", "high"]
    assert list(assign_tiers(t, TierRule(copying_unusable=True))) == ["unusable", "high"]
    assert tier_of(0.8, 0.8, False, TierRule(high_quality=0.9)) == "mid"


def test_tier_rule_rejects_unknown_thresholds():
    with pytest.raises(ValueError, match="extra"):
        TierRule(hihg_quality=0.5)


# ---- noise references, memorisation ----------------------------------------------------------


def test_noise_references_keep_class_statistics():
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (20, 16, 16, 3), dtype=np.uint8)
    flat = flat_colour(train, 7, np.random.default_rng(1))
    assert flat.shape == (7, 16, 16, 3) and (flat == flat[:, :1, :1]).all()  # one colour per crop
    means = np.rint(train.reshape(20, -1, 3).mean(1))
    assert all(any((f[0, 0] == m).all() for m in means) for f in flat)
    blur = blurred_noise(train, 50, np.random.default_rng(2))
    assert blur.shape == (50, 16, 16, 3)
    assert abs(blur.astype(float).mean() - train.astype(float).mean()) < 10
    assert np.abs(np.diff(blur.astype(float), axis=1)).mean() < np.abs(np.diff(train.astype(float), axis=1)).mean()
    assert np.array_equal(blur, blurred_noise(train, 50, np.random.default_rng(2)))


def test_nearest_distances_and_copy_z():
    train = pts((0, 0), (10, 0))
    np.testing.assert_allclose(nearest_distances(pts((1, 0), (10, 3), (4, 0)), train), [1.0, 3.0, 4.0])
    # Generated at distance 0 (copies) vs held-out at 1..5: every pair has the copy closer, U = 0.
    z = copy_z(np.zeros(5), np.arange(1.0, 6.0))
    assert z == pytest.approx(-0.5 * 25 / math.sqrt(25 * 11 / 12 * (1 - (5**3 - 5) / (10**3 - 10))))
    assert copy_z(np.arange(1.0, 6.0), np.arange(1.0, 6.0)) == pytest.approx(0.0)
    assert copy_z(np.arange(10.0, 15.0), np.arange(1.0, 6.0)) > 2  # further than real crops: underfitting
    assert math.isnan(copy_z(np.zeros(0), np.ones(3)))


# ---- crops, classifier, feature spaces --------------------------------------------------------


def square_crops(rng, colour, n, size=16):
    """Crops with a coloured square on a grey background, jittered."""
    out = np.full((n, size, size, 3), 128, dtype=np.uint8)
    for im in out:
        x, y = rng.integers(1, size // 2, 2)
        im[y : y + size // 3, x : x + size // 3] = colour
        im[:] = np.clip(im.astype(int) + rng.integers(-10, 11, im.shape), 0, 255)
    return out


def two_colour_set(seed=0, n=24):
    rng = np.random.default_rng(seed)
    images = np.concatenate([square_crops(rng, (220, 30, 30), n), square_crops(rng, (30, 30, 220), n)])
    return images, np.repeat([0, 1], n)


def test_classifier_deterministic_and_learns():
    images, labels = two_colour_set()
    a = train_classifier(images, labels, 2, TINY, seed=5)
    b = train_classifier(images, labels, 2, TINY, seed=5)
    c = train_classifier(images, labels, 2, TINY, seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    assert (predict(a, images, TINY.image_size) == labels).mean() > 0.9


def test_tstr_right_and_swapped_labels():
    images, labels = two_colour_set(1)
    test_images, test_labels = two_colour_set(2)
    right = metrics.tstr_accuracy(images, labels, test_images, test_labels, 2, seed=0, cfg=TINY)
    swapped = metrics.tstr_accuracy(images, 1 - labels, test_images, test_labels, 2, seed=0, cfg=TINY)
    assert right.min() > 0.9 and swapped.max() < 0.1
    assert np.isnan(metrics.tstr_accuracy(images, labels * 0, test_images, test_labels * 0, 1)).all()


def write_crops(root, images, labels, names, index=True):
    rows = []
    for i, (im, lab) in enumerate(zip(images, labels, strict=True)):
        rel = f"{names[lab]}/{i:06d}.png"
        save_image(root / rel, im)
        rows.append([rel, names[lab], lab, "train", "x.jpg", 0, 0, 1, 1])
    if index:
        with (root / "index.csv").open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file", "class", "class_id", "split", "source_image", "x1", "y1", "x2", "y2"])
            w.writerows(rows)
    return root


def test_read_real_crops(tmp_path):
    images, labels = two_colour_set(n=3)
    root = write_crops(tmp_path / "crops", images, labels, ["van", "car"])  # class_id order: van, car
    Image.fromarray(np.full((40, 24), 7, dtype=np.uint8), "L").save(root / "car" / "000099.png")  # grey, unlisted
    real = read_real_crops(root, size=16)
    assert real.class_names == ["van", "car"] and real.images.shape == (6, 16, 16, 3)
    assert list(real.labels) == [0, 0, 0, 1, 1, 1]
    (root / "index.csv").unlink()  # ImageFolder layout: sorted folders, every image
    folders = read_real_crops(root, size=16)
    assert folders.class_names == ["car", "van"] and len(folders.images) == 7
    assert folders.fingerprint != real.fingerprint


def test_read_real_crops_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_real_crops(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no crops"):
        read_real_crops(tmp_path / "empty")
    images, labels = two_colour_set(n=2)
    root = write_crops(tmp_path / "crops", images, labels, ["a", "b"])
    (root / "a" / "000000.png").unlink()
    with pytest.raises(DataError, match="000000.png"):
        read_real_crops(root)


def test_crops_classifier_feature_store_reused_and_refreshed(tmp_path):
    images, labels = two_colour_set(n=8)
    root = write_crops(tmp_path / "crops", images, labels, ["red", "blue"])
    store = tmp_path / "run" / "quality_features.pt"
    logs = []
    req = FeatureRequest(read_real_crops(root, 16), store, seed=1, classifier=TINY, log=logs.append)
    first = build_feature_space("crops-classifier", req)
    assert store.is_file() and store.with_suffix(".json").is_file() and not first.info["reused"]
    again = build_feature_space("crops-classifier", req)
    assert again.info["reused"]
    np.testing.assert_array_equal(first.embed(images), again.embed(images))
    assert first.embed(images).shape == (16, TINY.num_features)
    save_image(root / "red" / "000000.png", np.zeros((16, 16, 3), np.uint8))  # the crops changed
    changed = FeatureRequest(read_real_crops(root, 16), store, seed=1, classifier=TINY, log=logs.append)
    assert not build_feature_space("crops-classifier", changed).info["reused"]
    assert any("do not match" in m for m in logs)
    store.write_bytes(b"not a checkpoint")  # a damaged store is retrained, not an error
    assert not build_feature_space("crops-classifier", changed).info["reused"]
    assert any("unreadable" in m for m in logs)


def test_inception_from_local_weights(tmp_path):
    from torchvision.models import inception_v3

    images, labels = two_colour_set(n=1)
    path = tmp_path / "inception.pth"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    req = FeatureRequest(read_real_crops(write_crops(tmp_path / "c", images, labels, ["a", "b"]), 16), path, path)
    space = build_feature_space("inception", req)
    feats = space.embed(images)
    assert feats.shape == (2, 2048) and np.isfinite(feats).all() and space.num_features == 2048
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(DataError, match="fc.weight"):
        build_feature_space("inception", FeatureRequest(req.real, path, tmp_path / "bad.pth"))


# ---- a snapshot scored on arrays --------------------------------------------------------------


def test_pixels_feature_space():
    images = np.zeros((2, 16, 16, 3), np.uint8)
    images[1, :8] = 255  # top half white
    space = build_feature_space("pixels", FeatureRequest(None, Path("unused.pt"), pixel_side=2))
    feats = space.embed(images)
    assert feats.shape == (2, 12) and space.num_features == 12
    np.testing.assert_allclose(feats[1].reshape(3, 2, 2)[0], [[1, 1], [0, 0]])
    assert (feats[0] == 0).all()


def two_colour_reference(n_held: int):
    """(names, feature space, reference, score config, anchors) for red and blue squares, 24 train crops each."""
    train, train_labels = two_colour_set(3, n=24)
    held, held_labels = two_colour_set(5, n=n_held)
    names = ["red", "blue"]
    space = build_feature_space("pixels", FeatureRequest(None, Path("unused.pt"), pixel_side=4))
    ref = Reference.build(names, [train[train_labels == c] for c in (0, 1)], [held[held_labels == c] for c in (0, 1)],
                          space.embed)  # fmt: skip
    cfg = ScoreConfig(n=24, measure=MeasureConfig(kid_subset_size=10, kid_subsets=10, ssim_fakes=8, ssim_reals=8))
    return names, space, ref, cfg, measure_anchors(ref, space, cfg)


def test_score_snapshot_good_beats_noise_on_the_anchored_scale():
    names, space, ref, cfg, anchors = two_colour_reference(n_held=40)  # enough for TSTR to tell tiers apart
    assert all(n > r for n, r in zip(anchors.fid_noise, anchors.fid_real, strict=True))
    assert anchors.tstr_real > 0.9
    good_images, _ = two_colour_set(4, n=24)
    good = {"red": good_images[:24], "blue": good_images[24:]}
    rng = np.random.default_rng(0)
    noise = {c: rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8) for c in names}  # another size: resized
    rows = score_snapshot(1, noise, ref, space, anchors, cfg) + score_snapshot(2, good, ref, space, anchors, cfg)
    t = finish_table(rows, cfg.rule)
    assert list(t.columns)[-1] == "tier" and len(t) == 6 and set(t["class"]) == {"red", "blue", "all"}
    by = t.set_index(["snapshot", "class"])
    for c in ("red", "blue", "all"):
        assert by.loc[(2, c), "quality"] > 0.8 and by.loc[(1, c), "quality"] < 0
        assert (by.loc[(2, c), "tier"], by.loc[(1, c), "tier"]) == ("high", "unusable")
        assert not by.loc[(2, c), "copying"]
    assert by.loc[(2, "all"), "tstr_balanced_accuracy"] > 0.9 and by.loc[(2, "all"), "tstr_norm"] > 0.8
    assert by.loc[(2, "all"), "quality"] == pytest.approx((by.loc[(2, "red"), "quality"] +
                                                           by.loc[(2, "blue"), "quality"]) / 2)  # fmt: skip
    assert by.loc[(2, "all"), "n_fake"] == 48
    copies = {"red": ref.train[0], "blue": ref.train[1]}  # a generator returning its training crops
    rows = score_snapshot(3, copies, ref, space, anchors, cfg)
    assert all(r["copying"] and r["copy_z"] < -3 for r in rows)


def sequence_frames(scenes: list[tuple[int, int]], frames: int, seed: int, size: int = 16) -> np.ndarray:
    """Crops of video sequences: one red square per scene at the scene's place, redrawn with fresh pixel noise
    in each frame (neighbouring frames of a sequence are near-duplicates)."""
    rng = np.random.default_rng(seed)
    out = []
    for x, y in scenes:
        for _ in range(frames):
            im = np.full((size, size, 3), 128, dtype=int)
            im[y : y + size // 3, x : x + size // 3] = (220, 30, 30)
            out.append(np.clip(im + rng.integers(-8, 9, im.shape), 0, 255).astype(np.uint8))
    return np.stack(out)


def test_copy_check_compares_with_unseen_frames_of_the_train_scenes():
    """A split by sequence: the val crops show other scenes, so a generator drawing new frames of the train scenes
    (no copies) is closer to the train crops than they are and gets flagged; against frames of the train scenes held
    out at training it is not, while copies of the train crops still are."""
    train_scenes, val_scenes = [(1, 1), (8, 2), (3, 9), (9, 9)], [(5, 1), (1, 6), (10, 5), (6, 10)]
    train = sequence_frames(train_scenes, 6, seed=0)
    unseen_frames = sequence_frames(train_scenes, 4, seed=1)  # held out at training, frame by frame
    val = sequence_frames(val_scenes, 6, seed=2)
    new_frames = sequence_frames(train_scenes, 6, seed=3)  # what a generator that learned the scenes draws
    space = build_feature_space("pixels", FeatureRequest(None, Path("unused.pt"), pixel_side=4))
    cfg = MeasureConfig(kid_subset_size=10, kid_subsets=5, ssim_fakes=4, ssim_reals=4)

    def z(fakes: np.ndarray, copy: list[np.ndarray] | None) -> float:
        ref = Reference.build(["car"], [train], [val], space.embed, copy)
        return measure_set(fakes, space.embed(fakes), ref, 0, cfg)["copy_z"]

    assert z(new_frames, None) < -3  # flagged against the val scenes: the false alarm
    assert abs(z(new_frames, [unseen_frames])) < 2
    assert z(train, [unseen_frames]) < -3 and z(train, None) < -3  # copies are flagged either way


def test_has_scale_needs_noise_clearly_worse_than_real():
    assert has_scale(1.0, 1.1) and not has_scale(1.0, 1.04) and not has_scale(2.0, 1.9)
    assert not has_scale(math.nan, 2.0) and not has_scale(1.0, math.inf)


def test_tstr_tells_apart_only_the_classes_with_a_quality_scale():
    # A third class of flat grey crops: the flat-colour noise reference draws them exactly as real crops do,
    # so it has no quality scale; TSTR (and its normalisation) covers red and blue only.
    rng = np.random.default_rng(7)

    def grey(n):
        return np.full((n, 16, 16, 3), 128, dtype=np.uint8)

    train, train_labels = two_colour_set(3, n=24)
    held, held_labels = two_colour_set(5, n=40)
    names = ["red", "blue", "grey"]
    space = build_feature_space("pixels", FeatureRequest(None, Path("unused.pt"), pixel_side=4))
    ref = Reference.build(names, [train[train_labels == 0], train[train_labels == 1], grey(24)],
                          [held[held_labels == 0], held[held_labels == 1], grey(40)], space.embed)  # fmt: skip
    cfg = ScoreConfig(n=24, measure=MeasureConfig(kid_subset_size=10, kid_subsets=10, ssim_fakes=8, ssim_reals=8))
    anchors = measure_anchors(ref, space, cfg)
    assert [has_scale(r, n) for r, n in zip(anchors.fid_real, anchors.fid_noise, strict=True)] == [True, True, False]
    assert anchors.tstr_classes == [0, 1] and math.isnan(anchors.tstr_real_per_class[2])
    good_images, _ = two_colour_set(4, n=24)
    fakes = {"red": good_images[:24], "blue": good_images[24:],
             "grey": rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8)}  # fmt: skip
    t = finish_table(score_snapshot(1, fakes, ref, space, anchors, cfg), cfg.rule).set_index("class")
    assert t.loc["all", "tstr_norm"] > 0.8  # two classes told apart as well as by real crops: chance is 1/2
    assert math.isnan(t.loc["grey", "tstr_acc"]) and math.isnan(t.loc["grey", "quality"])
    assert (t.loc["red", "tier"], t.loc["blue", "tier"], t.loc["grey", "tier"]) == ("high", "high", "unusable")


def test_normalised_tstr_se_exact_and_a_noisy_tstr_is_left_out_of_the_tiers():
    # 2 classes, 25 held-out crops each: se = sqrt(2 * 0.25 / 25) / 2 = 0.0707; over a span of 0.9 - 0.5
    assert normalised_tstr_se([25, 25], 0.9) == pytest.approx(0.0707107 / 0.4, rel=1e-5)
    assert normalised_tstr_se([25], 0.9) == math.inf and normalised_tstr_se([25, 25], 0.5) == math.inf
    # 24 held-out crops per class: the normalised TSTR's error can reach 0.14, more than half the gap between
    # mid and high (0.125); its value is left empty and the tiers come from the quality scale alone.
    names, space, ref, cfg, anchors = two_colour_reference(n_held=24)
    assert 0.125 < anchors.tstr_norm_se < 0.2
    good_images, _ = two_colour_set(4, n=24)
    good = {"red": good_images[:24], "blue": good_images[24:]}
    t = finish_table(score_snapshot(1, good, ref, space, anchors, cfg), cfg.rule).set_index("class")
    assert t.loc["all", "tstr_balanced_accuracy"] > 0.9 and math.isnan(t.loc["all", "tstr_norm"])
    assert t.loc["red", "tier"] == "high"  # from the quality scale alone
    loose = ScoreConfig(n=24, measure=cfg.measure, rule=TierRule(tstr_max_se=0.2))
    t = finish_table(score_snapshot(1, good, ref, space, anchors, loose), loose.rule).set_index("class")
    assert t.loc["all", "tstr_norm"] > 0.8 and t.loc["red", "tier"] == "high"
