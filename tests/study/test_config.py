import pytest

from blendaug.data.errors import ConfigError
from blendaug.study.config import StudyConfig, describe_fields, load_config, parse_overrides


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
