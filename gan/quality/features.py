"""Feature spaces for FID, KID and precision/recall/density/coverage; all work offline.

``FEATURE_SPACES`` maps a name to a builder:

- ``pixels`` (default): the crop area-downsampled to ``pixel_side`` x ``pixel_side`` (8: 192 values
  in [0, 1]). Nothing is trained, so nothing is tuned to the train crops. On toyworld crops it was the
  only space tried in which the noise references (blurred class-mean noise, flat colours) scored clearly
  worse than real train crops against held-out crops (FID 2.5x the real anchor); in the
  ``crops-classifier`` space blurred noise scored *better* than real crops (car: 18.4 vs 19.7), since
  a class-and-rotation classifier is built to ignore what tells a blob from a vehicle. Crops are
  centred boxes, so pixel statistics compare like with like.
- ``crops-classifier``: the penultimate layer (128 features) of a :class:`CropNet` trained
  here on the real crops (class + rotation heads, seeded). The weights are stored (default
  ``RUN/quality_features.pt``, a state_dict, plus a ``.json`` beside it) and reused when the
  stored fingerprint of the real crops, the classes, the seed and the training settings all match.
- ``inception``: Inception-v3 pool features (2048) from a local weights file (``--inception PATH``).
  torchmetrics' default Inception weights are downloaded at run time, which is never allowed here.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from blendaug.data.atomic import atomic_write_bytes, atomic_write_text
from blendaug.data.errors import ConfigError, DataError
from blendaug.gan.quality.classifier import ClassifierConfig, CropNet, embed, predict, to_tensor, train_classifier
from blendaug.gan.quality.crops import RealCrops


@dataclass
class FeatureSpace:
    """A way to turn uint8 RGB crops (N, H, W, 3) into float64 features (N, num_features)."""

    name: str
    num_features: int
    embed: Callable[[np.ndarray], np.ndarray]
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class FeatureRequest:
    """What a feature-space builder may use.

    Attributes:
        real: the real crops (training data for ``crops-classifier``).
        store: where ``crops-classifier`` keeps its weights (``.pt``; a ``.json`` goes beside it).
        inception: local Inception-v3 weights file, for ``inception``.
        seed: training seed.
        device: torch device string.
        classifier: training settings of ``crops-classifier``.
        pixel_side: side of the ``pixels`` space.
    """

    real: RealCrops
    store: Path
    inception: Path | None = None
    seed: int = 0
    device: str = "cpu"
    classifier: ClassifierConfig = ClassifierConfig()
    log: Callable[[str], None] = print
    pixel_side: int = 8


def pixels(req: FeatureRequest) -> FeatureSpace:
    """Area-downsampled pixels in [0, 1] as features (see the module doc)."""
    side = req.pixel_side

    def _embed(images: np.ndarray) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, side * side * 3))
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).double() / 255.0  # N x 3 x H x W
        return torch.nn.functional.adaptive_avg_pool2d(x, side).flatten(1).numpy()

    return FeatureSpace("pixels", side * side * 3, _embed, {"side": side})


def _load_stored(req: FeatureRequest, expected: dict) -> CropNet | None:
    meta_path = req.store.with_suffix(".json")
    if not (req.store.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if {k: meta.get(k) for k in expected} != expected:
            req.log(f"stored features {req.store} do not match these crops or settings: retraining")
            return None
        net = CropNet(len(req.real.class_names), req.classifier)
        net.load_state_dict(torch.load(req.store, map_location="cpu", weights_only=True))
    except Exception as e:  # a damaged cache file (torch raises EOFError, UnpicklingError, RuntimeError...)
        req.log(f"stored features {req.store} unreadable ({type(e).__name__}): retraining")
        return None
    return net.to(req.device).eval()


def crops_classifier(req: FeatureRequest) -> FeatureSpace:
    """Train (or reuse) the crop classifier and use its penultimate layer as the feature space."""
    cfg, real = req.classifier, req.real
    expected = {
        "fingerprint": real.fingerprint,
        "classes": real.class_names,
        "seed": req.seed,
        "config": asdict(cfg),
    }
    net = _load_stored(req, expected)
    reused = net is not None
    if net is None:
        req.log(f"training the feature classifier on {len(real.images)} real crops ({cfg.epochs} epochs)")
        net = train_classifier(real.images, real.labels, len(real.class_names), cfg, req.seed, req.device)
        buf = io.BytesIO()
        torch.save({k: v.cpu() for k, v in net.state_dict().items()}, buf)
        acc = None
        if net.class_head is not None:
            acc = float((predict(net, real.images, cfg.image_size, req.device) == real.labels).mean())
        atomic_write_bytes(req.store, buf.getvalue())
        atomic_write_text(req.store.with_suffix(".json"), json.dumps({**expected, "train_accuracy": acc}, indent=2))
    info = {"store": str(req.store), "reused": reused, **expected}

    def _embed(images: np.ndarray) -> np.ndarray:
        return embed(net, images, cfg.image_size, req.device)

    return FeatureSpace("crops-classifier", net.num_features, _embed, info)


INCEPTION_SIZE = 299


def _torchvision_inception(state: dict) -> torch.nn.Module:
    from torchvision.models import inception_v3

    net = inception_v3(weights=None, aux_logits=any(k.startswith("AuxLogits.") for k in state), init_weights=False)
    net.load_state_dict(state)
    net.fc = torch.nn.Identity()  # pool features, 2048
    return net


def inception(req: FeatureRequest) -> FeatureSpace:
    """Inception-v3 pool3 features (2048) from a local weights file.

    Two formats: torchvision's ImageNet state dict (``inception_v3_google-*.pth``; 1000 classes),
    run through torchvision's Inception3; or the FID-standard ``pt_inception-2015-12-05`` weights
    (1008 classes), run through torchmetrics' ``NoTrainInceptionV3``, which needs ``torch-fidelity``.
    Crops are resized to 299 x 299 (bilinear, antialiased) and scaled to [-1, 1].
    """
    path = req.inception
    if path is None:
        raise ConfigError("--features inception needs --inception PATH (a local Inception-v3 weights file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError) as e:
        raise DataError(f"{path}: not a readable weights file ({type(e).__name__})") from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    fc = state.get("fc.weight") if isinstance(state, dict) else None
    if fc is None:
        raise DataError(f"{path}: not an Inception-v3 state dict (no 'fc.weight')")
    if fc.shape[0] == 1008:
        try:
            from torchmetrics.image.fid import NoTrainInceptionV3

            net = NoTrainInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))
        except ModuleNotFoundError as e:
            raise ConfigError(f"{path}: FID-standard Inception weights need the torch-fidelity package") from e
        scaled = False  # takes uint8 and scales itself
    else:
        try:
            net = _torchvision_inception(state)
        except RuntimeError as e:
            raise DataError(f"{path}: not a torchvision Inception-v3 state dict ({str(e).splitlines()[0]})") from e
        scaled = True
    net = net.to(req.device).eval()

    @torch.no_grad()
    def _embed(images: np.ndarray, batch: int = 32) -> np.ndarray:
        out = []
        for i in range(0, len(images), batch):
            chunk = images[i : i + batch]
            if scaled:
                x = to_tensor(chunk, INCEPTION_SIZE)  # B x 3 x 299 x 299 in [-1, 1]
            else:
                x = torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2)  # B x 3 x H x W uint8
            out.append(net(x.to(req.device)).double().cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, 2048))

    return FeatureSpace("inception", 2048, _embed, {"weights": str(path)})


FEATURE_SPACES: dict[str, Callable[[FeatureRequest], FeatureSpace]] = {
    "pixels": pixels,
    "crops-classifier": crops_classifier,
    "inception": inception,
}


def build_feature_space(name: str, req: FeatureRequest) -> FeatureSpace:
    """Look ``name`` up in :data:`FEATURE_SPACES` and build it."""
    if name not in FEATURE_SPACES:
        raise ConfigError(f"--features: unknown feature space {name!r} (choose from {', '.join(FEATURE_SPACES)})")
    return FEATURE_SPACES[name](req)
