"""The replay family: a "generator" that draws real crops again, with no training.

``replay`` keeps its training crops (or, with ``gan.options.replay.source``, every crop of another
crops folder) in ``snapshots/step_0000000/crops.npz`` and samples them back. It is the control of
the quality scale: replaying the training crops is what copying looks like (the memorisation check
flags it), and replaying crops of unseen real images is what a perfect generator scores. It also
shows how small a family can be.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from blendaug.data.errors import DataError
from blendaug.gan.runs import snapshot_dir, snapshot_steps, start_run, write_bytes, write_run_info

CROPS_FILE = "crops.npz"


class ReplayOptions(BaseModel):
    """``gan.options.replay``."""

    model_config = ConfigDict(extra="forbid")

    source: str | None = Field(None, description="crops folder to replay (every crop) instead of the training crops")


@dataclass
class ReplaySnapshot:
    """Stored crops, drawn back in a seeded order."""

    run_dir: Path
    step: int
    classes: list[str]
    _arrays: dict = field(default_factory=dict, repr=False)

    def _load(self) -> dict:
        if not self._arrays:
            path = snapshot_dir(self.run_dir, self.step) / CROPS_FILE
            try:
                with np.load(path, allow_pickle=False) as z:
                    self._arrays.update(images=z["images"], labels=z["labels"])
            except (OSError, KeyError, ValueError) as e:
                raise DataError(f"{path}: unreadable replay crops ({e})") from e
        return self._arrays

    def sample(self, class_name: str, n: int, seed: int, device: str = "cpu") -> np.ndarray:
        """``n`` stored crops of ``class_name``: a seeded permutation, repeated when ``n`` exceeds the crops."""
        if class_name not in self.classes:
            raise DataError(f"{self.run_dir}: no class {class_name!r} (has: {', '.join(self.classes)})")
        a = self._load()
        mine = a["images"][a["labels"] == self.classes.index(class_name)]
        if len(mine) == 0:
            raise DataError(f"{self.run_dir}: no stored crops of class {class_name!r} to replay")
        order = np.random.default_rng(int(seed)).permutation(len(mine))
        return mine[order[np.arange(n) % len(mine)]]


class ReplayFamily:
    generators = {"replay": "real crops drawn again, no training (the copying and perfect-generator control)"}
    options_model = ReplayOptions

    def units(self, generator: str, n_classes: int) -> int:
        return 1

    def train(self, job) -> dict:
        from blendaug.gan.data import load_crops

        opts = job.cfg.family_options("replay")
        info = {**job.info, "steps": 0, "snapshots": [0], "options": opts}
        info["settings"] = {**info["settings"], "steps": 0, "snapshots": [0], "source": opts["source"]}
        old = start_run(job.out, info)
        if old is not None and old.get("finished"):
            job.log(f"{job.out}: run already finished; nothing to do")
            return old
        crops = job.crops
        if opts["source"]:
            src = load_crops(Path(opts["source"]), int(info["image_size"]), "all")
            missing = sorted(set(crops.class_names) - set(src.class_names))
            if missing:
                raise DataError(f"{opts['source']}: no crops of class(es) {', '.join(missing)} to replay")
            labels = np.array([crops.class_names.index(src.class_names[i]) if src.class_names[i] in crops.class_names
                               else -1 for i in src.labels])  # fmt: skip
            images, labels = src.images[labels >= 0], labels[labels >= 0]
        else:
            images, labels = crops.images, crops.labels
        write_run_info(job.out, info)
        buf = io.BytesIO()
        np.savez(buf, images=images, labels=labels.astype(np.int64))
        write_bytes(snapshot_dir(job.out, 0) / CROPS_FILE, buf.getvalue())
        info["finished"] = True
        write_run_info(job.out, info)
        return info

    def snapshots(self, run_dir: Path, info: dict) -> list[ReplaySnapshot]:
        steps = snapshot_steps(run_dir, lambda d: (d / CROPS_FILE).is_file())
        return [ReplaySnapshot(Path(run_dir), s, list(info["classes"])) for s in steps]
