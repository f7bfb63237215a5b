"""Packing: the same small YOLO jobs one at a time vs several at once, through the local-parallel executor.

    python benchmarks/bench_packing.py [--jobs 8] [--epochs 5] [--imgsz 320] [--train 64] [--per-gpu 4]

Both variants run the same ``--jobs`` detector trainings (yolov8n from scratch on one toyworld set, seeds
0..N-1) through :class:`blendaug.study.executor_parallel.ParallelExecutor`, so process start-up and log
capture cost both the same; the reference runs first, then the candidate, in the same run:

- on a GPU: reference = one job on the GPU at a time (``jobs_per_gpu=1``, every core for it), candidate =
  ``--per-gpu`` jobs sharing GPU 0 (``jobs_per_gpu=K``, the cores split between them). GPU utilisation
  and memory are sampled every 0.5 s with NVML (or ``nvidia-smi`` when pynvml is missing);
- on a CPU machine: reference = 1 job x all cores threads, candidate = one job per core x 1 thread
  (on 2 cores: 1 job x 2 threads vs 2 jobs x 1 thread). CPU utilisation comes from ``/proc/stat``.

It prints jobs/hour, wall time and mean utilisation for both, and the candidate's speed-up.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))


def yolo_job(folder: str, data: str, epochs: int, imgsz: int, batch: int, seed: int, device: str, workers: int):
    """One detector training as a resumable node (what the study's detect nodes do, without the eval).

    ``workers``: dataloader processes, the job's share of the cores (ultralytics uses none on a CPU).
    """
    from blendaug.detection.train import train_detector
    from blendaug.study.steps import run_step

    def build(f: Path) -> None:
        train_detector(Path(data), f / "train", epochs=epochs, imgsz=imgsz, batch=batch, seed=seed, device=device,
                       overrides={"plots": False, "workers": workers}, overwrite=True)

    return run_step(Path(folder), {"data": data, "epochs": epochs, "imgsz": imgsz, "seed": seed}, build)


class Sampler:
    """Mean utilisation (and peak GPU memory) over a window, sampled every ``period`` s in a thread."""

    def __init__(self, gpu: bool, period: float = 0.5) -> None:
        self.gpu, self.period = gpu, period
        self.util: list[float] = []
        self.mem_mib: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        read = self._gpu_reader() if self.gpu else self._cpu_reader()
        while not self.stop.wait(self.period):
            got = read()
            if got is not None:
                self.util.append(got[0])
                if got[1] is not None:
                    self.mem_mib.append(got[1])

    @staticmethod
    def _gpu_reader():
        try:
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(0)

            def nvml():
                return (float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
                        pynvml.nvmlDeviceGetMemoryInfo(handle).used / 2**20)

            return nvml
        except Exception:  # no pynvml, or NVML not usable: ask nvidia-smi
            def smi():
                try:
                    out = subprocess.run(["nvidia-smi", "-i", "0", "--query-gpu=utilization.gpu,memory.used",
                                          "--format=csv,noheader,nounits"], capture_output=True, text=True,
                                         timeout=5).stdout
                    util, mem = out.strip().splitlines()[0].split(",")
                    return float(util), float(mem)
                except (OSError, subprocess.SubprocessError, ValueError, IndexError):
                    return None

            return smi

    @staticmethod
    def _cpu_reader():
        def times():
            with open("/proc/stat") as f:
                parts = [float(x) for x in f.readline().split()[1:]]
            return sum(parts), parts[3] + parts[4]  # total, idle + iowait

        last = [times()]

        def cpu():
            now = times()
            total, idle = now[0] - last[0][0], now[1] - last[0][1]
            last[0] = now
            return (100.0 * (1 - idle / total), None) if total > 0 else None

        return cpu if Path("/proc/stat").is_file() else (lambda: None)

    def mean(self) -> float:
        return sum(self.util) / len(self.util) if self.util else float("nan")


def run_variant(name: str, root: Path, data: Path, a, *, cpus_per_job: int, gpus_per_job: float,
                executor_options: dict, device: str) -> dict:
    from blendaug.study.executor import Node, Resources
    from blendaug.study.executor_parallel import ParallelExecutor
    from blendaug.study.steps import fingerprint

    out = root / name
    nodes = []
    for seed in range(a.jobs):
        kwargs = {"folder": str(out / f"job{seed}"), "data": str(data), "epochs": a.epochs, "imgsz": a.imgsz,
                  "batch": a.batch, "seed": seed, "device": device, "workers": cpus_per_job}
        nodes.append(Node(f"detect/seed{seed}", "detect", fingerprint(kwargs), out / f"job{seed}", yolo_job, kwargs,
                          resources=Resources(cpus=cpus_per_job, gpus=gpus_per_job)))
    executor = ParallelExecutor(**executor_options)
    with Sampler(gpu=device != "cpu") as sampler:
        t0 = time.perf_counter()
        executor.run(nodes)
        wall = time.perf_counter() - t0
    return {"name": name, "wall": wall, "jobs_h": a.jobs / wall * 3600, "util": sampler.mean(),
            "mem": max(sampler.mem_mib) if sampler.mem_mib else None}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=8, help="detector trainings per variant")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--train", type=int, default=64, help="train images")
    p.add_argument("--per-gpu", type=int, default=4, help="jobs per GPU in the packed variant")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder (job logs, weights)")
    a = p.parse_args()

    from bench_detect import make_dataset

    from blendaug.data.cores import usable_cores
    from blendaug.study.executor_parallel import visible_gpus

    gpus = visible_gpus() if a.device != "cpu" else []
    cores = usable_cores()
    root = Path(tempfile.mkdtemp(prefix="bench_packing_"))
    data = make_dataset(root / "ds", {"train": a.train, "val": max(4, a.train // 4), "test": 4}, a.imgsz)
    if gpus:
        k = a.per_gpu
        variants = [
            ("1 job/GPU", dict(cpus_per_job=cores, gpus_per_job=1.0,
                               executor_options={"gpus": 1, "jobs_per_gpu": 1, "cpus": cores}), "cuda"),
            (f"{k} jobs/GPU", dict(cpus_per_job=max(1, cores // k), gpus_per_job=1.0 / k,
                                   executor_options={"gpus": 1, "jobs_per_gpu": k, "cpus": cores}), "cuda"),
        ]
        what = f"GPU 0 of {len(gpus)}, {cores} cores"
    else:
        variants = [
            (f"1 job x {cores} thr", dict(cpus_per_job=cores, gpus_per_job=0.0,
                                          executor_options={"workers": 1, "cpus": cores, "gpus": 0}), "cpu"),
            (f"{cores} jobs x 1 thr", dict(cpus_per_job=1, gpus_per_job=0.0,
                                           executor_options={"workers": cores, "cpus": cores, "gpus": 0}), "cpu"),
        ]
        what = f"CPU x{cores}"
    rows = [run_variant(name, root, data, a, device=device, **opts) for name, opts, device in variants]
    print(f"bench_packing: {a.jobs} yolov8n trainings from scratch, {a.train} train images at {a.imgsz} px, "
          f"{a.epochs} epochs, batch {a.batch}, {what}; reference first, then packed, same run")
    unit = "GPU util" if gpus else "CPU util"
    print(f"{'variant':<18}{'wall s':>9}{'jobs/hour':>11}{unit:>10}{'GPU MiB':>9}")
    for r in rows:
        mem = f"{r['mem']:.0f}" if r["mem"] is not None else "-"
        print(f"{r['name']:<18}{r['wall']:>9.1f}{r['jobs_h']:>11.1f}{r['util']:>9.0f}%{mem:>9}")
    print(f"packed vs reference: {rows[1]['jobs_h'] / rows[0]['jobs_h']:.2f}x jobs/hour")
    if a.keep:
        print(f"kept: {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    main()
