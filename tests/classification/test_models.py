"""Model registry, small-input adaptations and user-supplied weights."""

from __future__ import annotations

import pickle

import pytest
import torch
from torch import nn

from blendaug.classification.models import MODELS, build_model, load_weights
from blendaug.data.errors import ConfigError, DataError


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_model_maps_small_crops_to_logits(name):
    torch.manual_seed(0)
    model = build_model(name, 3, 32).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))  # 2 x 3 x 32 x 32 -> 2 x 3
    assert out.shape == (2, 3) and torch.isfinite(out).all()


def test_resnet18_stem_follows_the_input_size():
    m32, m64, m128 = (build_model("resnet18", 4, s) for s in (32, 64, 128))
    assert m32.conv1.kernel_size == (3, 3) and m32.conv1.stride == (1, 1) and isinstance(m32.maxpool, nn.Identity)
    assert m64.conv1.kernel_size == (3, 3) and isinstance(m64.maxpool, nn.MaxPool2d)
    assert m128.conv1.kernel_size == (7, 7) and m128.conv1.stride == (2, 2)
    assert m64.fc.out_features == 4


def test_vgg_keeps_torchvision_feature_names_with_a_small_head():
    from torchvision.models import vgg16

    model = build_model("vgg16", 5, 32)
    reference = {k: v.shape for k, v in vgg16(weights=None).state_dict().items() if k.startswith("features.")}
    assert {k: v.shape for k, v in model.state_dict().items() if k.startswith("features.")} == reference
    assert sum(p.numel() for p in model.classifier.parameters()) == 512 * 512 + 512 + 512 * 5 + 5


def test_bad_model_or_size_is_a_config_error():
    with pytest.raises(ConfigError, match="resnet18"):
        build_model("resnet19", 3, 32)
    with pytest.raises(ConfigError, match="multiple of 16"):
        build_model("smallcnn", 3, 40)


def test_load_weights_keeps_matching_tensors_only(tmp_path):
    torch.manual_seed(0)
    src = build_model("smallcnn", 5, 32)
    torch.save(src.state_dict(), tmp_path / "w.pt")
    torch.manual_seed(1)
    dst = build_model("smallcnn", 3, 32)
    loaded, skipped = load_weights(dst, tmp_path / "w.pt")
    assert skipped == ["head.2.bias", "head.2.weight"]  # the 5-class head does not fit 3 classes
    assert loaded == len(dst.state_dict()) - 2
    assert torch.equal(dst.features[0].weight, src.features[0].weight)
    with pytest.raises(DataError, match="tensors match"):
        load_weights(dst, tmp_path / "w.pt", strict=True)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_load_weights_rejects_bad_files_without_running_code(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_weights(build_model("smallcnn", 2, 32), tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.pt"):
        load_weights(build_model("smallcnn", 2, 32), tmp_path / "junk.pt")
    # weights_only=True refuses arbitrary pickled objects (they could run code when loaded)
    (tmp_path / "obj.pt").write_bytes(pickle.dumps(ConfigError("x")))
    with pytest.raises(DataError, match="obj.pt"):
        load_weights(build_model("smallcnn", 2, 32), tmp_path / "obj.pt")
    torch.save({"a": 1}, tmp_path / "notstate.pt")
    with pytest.raises(DataError, match="not a state_dict"):
        load_weights(build_model("smallcnn", 2, 32), tmp_path / "notstate.pt")
