import pytest

from blendaug.data.errors import ConfigError
from blendaug.study.config import StudyConfig
from blendaug.study.config_io import cells, describe_fields, load_config, parse_overrides


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_unknown_key_suggests_the_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'gan.epoch' \(did you mean 'gan.epochs'\?\)"):
        load_config(write(tmp_path, "gan:\n  epoch: 3\n"))
    with pytest.raises(ConfigError, match=r"unknown key 'sedes' \(did you mean 'seeds'\?\)"):
        load_config(write(tmp_path, "sedes: [1]\n"))


def test_wrong_type_names_file_and_key(tmp_path):
    p = write(tmp_path, "detection:\n  epochs: many\n")
    with pytest.raises(ConfigError, match=r"c.yaml: key 'detection.epochs'"):
        load_config(p)


def test_overrides_apply_before_validation(tmp_path):
    p = write(tmp_path, "seeds: [0]\ngan:\n  epochs: 4\n")
    cfg = load_config(p, ["gan.epochs=7", "seeds=[3, 4]", "detection.args.mosaic=0", "dataset.split.group=^(s\\d+)_"])
    assert cfg.gan.epochs == 7 and cfg.seeds == [3, 4]
    assert cfg.detection.args == {"mosaic": 0}
    assert cfg.dataset.split.group == "^(s\\d+)_"
    with pytest.raises(ConfigError, match="unknown key 'gan.epochz'"):
        load_config(p, ["gan.epochz=3"])
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        parse_overrides(["gan.epochs"])


def test_baseline_is_required_and_snapshots_sorted(tmp_path):
    with pytest.raises(ConfigError, match="baseline"):
        load_config(write(tmp_path, "arms: [blended_mixed]\n"))
    cfg = load_config(write(tmp_path, "gan:\n  epochs: 9\n  snapshots: [9, 1, 3, 3]\n"))
    assert cfg.gan.snapshots == [1, 3, 9]


def test_every_field_has_a_description():
    lines = describe_fields()
    assert lines and all("# " in line and not line.endswith("# None") for line in lines)
    assert StudyConfig().arms[0] == "baseline"


@pytest.mark.parametrize(("text", "message"), [
    ("synthetic:\n  blend: gausian\n", r"synthetic.blend: .*did you mean 'gaussian'"),
    ("synthetic:\n  mask: elipse\n", r"synthetic.mask: unknown mask 'ellipse'|did you mean 'ellipse'"),
    ("synthetic:\n  per_image: 4-1\n", r"synthetic.per_image: expected a range"),
    ("detection:\n  recipe: cpu-smal\n", r"detection.recipe: .*did you mean 'cpu-small'"),
    ("detection:\n  model: yolov8q.yaml\n", r"detection.model: no model yaml 'yolov8q.yaml'"),
    ("detection:\n  model: yolov8n.pt\n", r"detection.model: .*not a model yaml"),
    ("detection:\n  args: {mosiac: 0}\n", r"detection.args: .*did you mean mosaic"),
    ("executor:\n  kind: rey\n", r"executor.kind: .*'rey'.*did you mean 'ray'"),
    ("gan:\n  archs: [dcgam]\n", r"gan.archs.*did you mean 'dcgan'"),
    ("arms:\n  baseline: {}\n  x: {source: gan, generators: [dcgn]}\n",
     r"arms.x.generators: generator 'dcgn' is not in gan.archs \(did you mean 'cdcgan'\?\)"),
])
def test_registry_values_are_checked_when_the_config_loads(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))


def test_arms_as_presets_or_mapping_with_did_you_mean(tmp_path):
    cfg = load_config(write(tmp_path, "arms: [baseline, blended_high, paste_real]\nsynthetic: {copies: 2}\n"))
    specs = cfg.arm_specs()
    assert specs["blended_high"].source == "gan" and specs["blended_high"].tier == "high"
    assert specs["paste_real"].ratio == 2  # copies is the older name of ratio
    cfg = load_config(write(tmp_path, "arms:\n  baseline: {}\n  gan_poisson: {source: gan, tier: high, "
                                      "blend: poisson}\n  real_x4: {source: real_crops, ratio: 4}\n"))
    specs = cfg.arm_specs()
    assert specs["gan_poisson"].blend == "poisson" and specs["real_x4"].ratio == 4
    assert specs["real_x4"].blend == cfg.synthetic.blend  # unset fields come from synthetic:
    with pytest.raises(ConfigError, match=r"arms.gan_poisson: unknown field 'blnd' \(did you mean 'blend'\?\)"):
        load_config(write(tmp_path, "arms:\n  baseline: {}\n  gan_poisson: {blnd: poisson}\n"))
    with pytest.raises(ConfigError, match=r"arms.x.source: unknown source 'gann' \(did you mean 'gan'\?\)"):
        load_config(write(tmp_path, "arms:\n  baseline: {}\n  x: {source: gann}\n"))
    with pytest.raises(ConfigError, match=r"arms: unknown arm 'blended_hihg' \(did you mean 'blended_high'\?\)"):
        load_config(write(tmp_path, "arms: [baseline, blended_hihg]\n"))
    with pytest.raises(ConfigError, match=r"arms.x.blend: .*did you mean 'poisson'"):
        load_config(write(tmp_path, "arms:\n  baseline: {}\n  x: {source: gan, blend: poison}\n"))
    with pytest.raises(ConfigError, match=r"arms.x: mode replace .* ratio must be <= 1"):
        load_config(write(tmp_path, "arms:\n  baseline: {}\n  x: {source: gan, mode: replace, ratio: 2}\n"))


def test_contrasts_default_and_declared(tmp_path):
    cfg = load_config(write(tmp_path, "arms: [baseline, blended_high, blended_low, paste_real]\n"))
    assert cfg.contrast_pairs() == [("blended_high", "baseline"), ("blended_low", "baseline"),
                                    ("paste_real", "baseline"), ("blended_high", "paste_real"),
                                    ("blended_low", "paste_real")]
    cfg = load_config(write(tmp_path, "arms: [baseline, blended_high, blended_low]\n"
                                      "contrasts: [[blended_high, blended_low]]\n"))
    assert cfg.contrast_pairs() == [("blended_high", "blended_low")]
    with pytest.raises(ConfigError, match=r"contrasts\[0\]: unknown arm 'blended_hi'"):
        load_config(write(tmp_path, "arms: [baseline, blended_high]\ncontrasts: [[blended_hi, baseline]]\n"))


def test_sweep_cells_are_a_grid_checked_at_load(tmp_path):
    cfg = load_config(write(tmp_path, "sweep: {dataset.train_size: [25, 50], synthetic.ratio: [1, 4]}\n"))
    grid = cells(cfg)
    assert [c.name for c in grid] == ["train_size=25,ratio=1", "train_size=25,ratio=4", "train_size=50,ratio=1",
                                      "train_size=50,ratio=4"]
    assert grid[1].cfg.dataset.train_size == 25 and grid[1].cfg.synthetic.ratio == 4 and not grid[1].cfg.sweep
    assert not load_config(write(tmp_path, "sweep: {synthetic.ratio: [1, 2]}\n"), ["sweep={}"]).sweep
    # A mapping value replaces the mapping; a dotted key changes one entry.
    arms = load_config("configs/aerial.yaml", ["arms={baseline: {}, paste_real: {}}", "contrasts=null"]).arm_specs()
    assert list(arms) == ["baseline", "paste_real"]
    assert load_config("configs/quick.yaml", ["detection.args.lr0=0.02"]).detection.args == {"lr0": 0.02}
    with pytest.raises(ConfigError, match=r"unknown key 'dataset.train_sise'"):
        load_config(write(tmp_path, "sweep: {dataset.train_sise: [25]}\n"))
    with pytest.raises(ConfigError, match=r"dataset.train_size"):
        load_config(write(tmp_path, "sweep: {dataset.train_size: [0]}\n"))


def test_shipped_configs_load_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("quick.yaml", "configs/smoke.yaml", "paper.yaml", "aerial.yaml", "aerial_jekhor.yaml",
                 "aerial_gpu.yaml", "ablation.yaml"):
        assert load_config(name).name
