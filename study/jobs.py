"""The (arm, seed) training jobs: detection and classification. Each is a resumable step.

Jobs are plain functions of picklable arguments, so an :class:`study.executor.Executor` other
than the local one can run them anywhere that sees the run folder.
"""

from __future__ import annotations

from pathlib import Path

from blendaug.study.config import StudyConfig
from blendaug.study.pipeline import GAN_ARMS, _device, arm_data_yaml, crops_dir, dataset_yaml
from blendaug.study.steps import StepResult, run_step

# Arms whose classifier training set differs from the baseline's. paste_real pastes real crops into
# scenes, which gives a crop classifier nothing new, so it has no classification job.
CLASSIFY_ARMS = ("baseline", "classical", *GAN_ARMS)


def detect_folder(run: Path, arm: str, seed: int) -> Path:
    return run / "detect" / arm / f"seed{seed}"


def classify_folder(run: Path, arm: str, seed: int) -> Path:
    return run / "classify" / arm / f"seed{seed}"


def detection_job(cfg: StudyConfig, run: Path, arm: str, seed: int, arm_fp: str) -> StepResult:
    """Train YOLO on the arm's data with one seed, then evaluate on the real, untouched test split."""
    from blendaug.detection.evaluate import evaluate_detector
    from blendaug.detection.train import train_detector

    d = cfg.detection

    def build(folder: Path) -> None:
        train_detector(arm_data_yaml(run, arm), folder / "train", model=d.model, recipe=d.recipe, epochs=d.epochs,
                       imgsz=d.imgsz, batch=d.batch, seed=seed, device=cfg.device, overrides=dict(d.args),
                       overwrite=True)
        evaluate_detector(folder / "train" / "weights" / "best.pt", dataset_yaml(run), folder / "eval", split="test",
                          conf=d.conf, iou=d.iou, device=cfg.device, imgsz=d.imgsz, overwrite=True)

    key = {"arm": arm_fp, "detection": d.model_dump(), "seed": seed, "device": _device(cfg)}
    return run_step(detect_folder(run, arm, seed), key, build)


def classification_job(cfg: StudyConfig, run: Path, arm: str, seed: int, arm_fp: str) -> StepResult:
    """Train the crop classifier for one arm and seed; the crops' test split scores it."""
    from blendaug.classification.run import TrainArgs, train_run

    c = cfg.classification

    def build(folder: Path) -> None:
        extra: dict = {}
        if arm == "classical":
            extra = {"classical_factor": cfg.synthetic.copies}
        elif arm in GAN_ARMS:
            extra = {"synthetic": run / "samples" / GAN_ARMS[arm] / "crops", "tier": "low,mid,high",
                     "synthetic_ratio": [c.synthetic_ratio]}
        train_run(TrainArgs(data=crops_dir(run, "train").parent, out=folder / "run", model=c.model, size=c.size,
                            epochs=c.epochs, seed=seed, device=cfg.device, overwrite=True, **extra),
                  log=lambda m: None)

    key = {"arm": arm_fp, "classification": c.model_dump(), "seed": seed, "device": _device(cfg)}
    return run_step(classify_folder(run, arm, seed), key, build)
