"""Detection wrapper overhead: train and eval images/s of ``detection`` vs a plain ultralytics call, same run.

    python benchmarks/bench_detect.py [--epochs 3] [--imgsz 256] [--repeats 2]

Each measurement runs in a fresh subprocess (same imports, no state carried over) and times only the
train / eval call itself. Three variants, interleaved so CPU contention hits them alike; the best of
``--repeats`` is reported:

- ``ours``: ``detection.train.train_detector`` / ``detection.evaluate.evaluate_detector``;
- ``plain``: ``YOLO("yolov8n.yaml").train(...)`` / ``.val(split="test")`` with the same resolved arguments
  (offline env vars set, else it tries to download fonts);
- ``plain+threads``: the same plain call with ultralytics' CPU thread cap lifted as our wrapper does (every
  core, or ``$BLENDAUG_TORCH_THREADS``), so ``ours`` vs ``plain+threads`` is the wrapper's overhead and
  ``plain`` vs ``plain+threads`` the thread fix.

The overhead target is <= 5 % (ours vs plain+threads).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def make_dataset(out: Path, counts: dict[str, int], size: int, seed: int = 0) -> Path:
    """Toyworld when the generator is there, else coloured rectangles; split as ``counts`` says."""
    import numpy as np

    from blendaug.data.model import Dataset, ImageRecord
    from blendaug.data.yolo import read_yolo, write_yolo

    n = sum(counts.values())
    try:
        from blendaug.data.toyworld import ToyworldConfig, generate_toyworld

        ds = read_yolo(generate_toyworld(out.parent / "toyworld", ToyworldConfig(n_images=n, seed=seed, size=size)))
        images = sorted(ds.images, key=lambda im: im.rel_path.as_posix())
    except ImportError:
        from blendaug.data.imageio import encode_image

        rng = np.random.default_rng(seed)
        images = []
        for i in range(n):
            img = rng.integers(90, 140, size=(size, size, 3), dtype=np.uint8)
            boxes, ids = [], []
            for _ in range(int(rng.integers(1, 5))):
                w, h = rng.integers(size // 8, size // 3, size=2)
                x1, y1 = rng.integers(0, size - w), rng.integers(0, size - h)
                c = int(rng.integers(0, 2))
                img[y1:y1 + h, x1:x1 + w] = (220, 40, 40) if c == 0 else (40, 60, 220)
                boxes.append([x1, y1, x1 + w, y1 + h])
                ids.append(c)
            images.append(ImageRecord(path=Path(f"img_{i:04d}.png"), width=size, height=size, boxes_xyxy_px=boxes,
                                      class_ids=ids, data=encode_image(img, ".png")))
        ds = Dataset(names=["red", "blue"], images=images)
    start = 0
    for split, k in counts.items():
        for im in images[start:start + k]:
            im.split = split
        start += k
    return write_yolo(ds.with_images(images), out)


def _offline_env() -> None:
    from blendaug.detection.yolo import config_dir

    os.environ.update({"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "YOLO_CONFIG_DIR": str(config_dir()),
                       "YOLO_VERBOSE": "0"})


def worker(kind: str, task: str, data: Path, out: Path, args: dict) -> dict:
    """Run one measurement in this process; returns ``{"seconds": ...}``."""
    if kind == "ours":
        from blendaug.detection.evaluate import evaluate_detector
        from blendaug.detection.train import train_detector
        from blendaug.detection.yolo import ultralytics

        ultralytics()
        if task == "train":
            t = time.perf_counter()
            train_detector(data, out, epochs=args["epochs"], imgsz=args["imgsz"], batch=args["batch"],
                           seed=args["seed"], device="cpu", overrides=args["overrides"])
        else:
            t = time.perf_counter()
            evaluate_detector(Path(args["weights"]), data, out, device="cpu", batch=args["batch"])
        return {"seconds": time.perf_counter() - t}
    _offline_env()
    for cache in (data.parent / "labels").glob("*.cache"):
        cache.unlink()
    from ultralytics import YOLO

    if kind == "plain+threads":
        from ultralytics.utils import torch_utils

        from blendaug.detection.yolo import torch_threads

        torch_utils.NUM_THREADS = torch_threads()
    t = time.perf_counter()  # like ours, the timed part includes building or loading the model
    if task == "train":
        model = YOLO("yolov8n.yaml")
        model.train(data=str(data), project=str(out.parent), name=out.name, exist_ok=True, pretrained=False,
                    **args["resolved"])
    else:
        model = YOLO(args["weights"])
        model.val(data=str(data), split="test", batch=args["batch"], device="cpu", plots=False,
                  project=str(out.parent), name=out.name, exist_ok=True)
    return {"seconds": time.perf_counter() - t}


def _spawn(kind: str, task: str, data: Path, out: Path, args: dict) -> float:
    cmd = [sys.executable, __file__, "--worker", kind, "--task", task, "--data", str(data), "--out", str(out),
           "--args", json.dumps(args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "YOLO_VERBOSE": "0"})
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} {task} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--imgsz", type=int, default=256)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--train", type=int, default=32, help="train images")
    p.add_argument("--test", type=int, default=48, help="test images")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--worker"), p.add_argument("--task"), p.add_argument("--data"), p.add_argument("--out")
    p.add_argument("--args")
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.task, Path(a.data), Path(a.out), json.loads(a.args))))
        return

    from blendaug.detection.yolo import torch_threads

    root = Path(tempfile.mkdtemp(prefix="bench_detect_"))
    data = make_dataset(root / "ds", {"train": a.train, "val": 8, "test": a.test}, a.imgsz)
    overrides = {"plots": False}
    # Resolve our arguments once (first 'ours' run) and hand exactly those to the plain calls.
    train_s: dict[str, list[float]] = {"ours": [], "plain": [], "plain+threads": []}
    eval_s: dict[str, list[float]] = {k: [] for k in train_s}
    base = {"epochs": a.epochs, "imgsz": a.imgsz, "batch": a.batch, "seed": 0, "overrides": overrides}
    train_s["ours"].append(_spawn("ours", "train", data, root / "ours0", base))
    record = json.loads((root / "ours0" / "run.json").read_text())
    resolved = dict(record["args"])
    weights = str(root / "ours0" / "weights" / "best.pt")
    for r in range(a.repeats):
        for kind in ("plain", "plain+threads", "ours"):
            if not (kind == "ours" and r == 0):
                train_s[kind].append(_spawn(kind, "train", data, root / f"{kind}{r}", {**base, "resolved": resolved}))
        for kind in ("plain", "plain+threads", "ours"):
            eval_s[kind].append(_spawn(kind, "eval", data, root / f"eval_{kind}{r}",
                                       {**base, "weights": weights}))
    n_train = a.train * a.epochs
    print(f"bench_detect: yolov8n from scratch, {a.train} train / 8 val / {a.test} test images at {a.imgsz} px, "
          f"{a.epochs} epochs, batch {a.batch}, CPU x{os.cpu_count()} (torch threads: ours {torch_threads()}), "
          f"best of {a.repeats} "
          f"(train time includes the per-epoch val pass)")
    print(f"{'variant':<15}{'train img/s':>13}{'eval img/s':>12}{'train s':>10}{'eval s':>9}")
    for kind in train_s:
        ts, es = min(train_s[kind]), min(eval_s[kind])
        print(f"{kind:<15}{n_train / ts:>13.2f}{a.test / es:>12.2f}{ts:>10.1f}{es:>9.2f}")
    ref_t, ref_e = min(train_s["plain+threads"]), min(eval_s["plain+threads"])
    over_t = min(train_s["ours"]) / ref_t - 1
    over_e = min(eval_s["ours"]) / ref_e - 1
    print(f"overhead vs plain+threads: train {over_t:+.1%}, eval {over_e:+.1%} (target <= +5%); "
          f"thread fix: plain+threads is {min(train_s['plain']) / ref_t:.2f}x faster than plain at training")


if __name__ == "__main__":
    main()
