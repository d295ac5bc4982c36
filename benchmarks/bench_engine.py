"""Engine overheads: `python benchmarks/bench_engine.py [--quick]`.

Rows (our time, a reference measured in the same run, ratio = reference / ours):
- training: `gwapbench.engine.loop.train` with its data loader (images decoded and cached by
  ImageLabelDataset, seeded flips, normalization), progress bar, checkpoint and log hooks, against
  bare forward + backward + SGD step of the same model on the same batches already in memory
  (ratio = 1 / (1 + overhead));
- prediction: `gwapbench.engine.predict.predict` over the test images, from the in-memory cache the
  table commands use for small sets and decoded from disk by 2 loader workers (tiny net at the quick
  schedule's size; GoogLeNet, random weights, at 448x448), against the model's forward-only time on
  the same batches in memory;
- the GWAP head's forward-time overhead over GAP on GoogLeNet (random weights) at 448x448, CPU,
  batch 2: both heads timed on the same backbone features, their difference over the whole forward.
The first two use the tiny net on the default synthetic VOC set at the `quick` schedule's size.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import print_row, run_script  # noqa: E402

from gwapbench.data.synthetic import VOC_YEAR, make_synthetic_voc  # noqa: E402
from gwapbench.data.synthetic_shapes import CLASS_NAMES  # noqa: E402
from gwapbench.data.voc import read_voc  # noqa: E402
from gwapbench.engine.batches import ImageLabelDataset, Normalizer, TrainBatches, collate, shard_keys  # noqa: E402
from gwapbench.engine.loop import PeriodicHook, ProgressHook, train  # noqa: E402
from gwapbench.engine.models import build_task  # noqa: E402
from gwapbench.engine.predict import predict  # noqa: E402
from gwapbench.engine.runner import save_checkpoint  # noqa: E402
from gwapbench.engine.schedules import SCHEDULES  # noqa: E402
from gwapbench.engine.store import Run  # noqa: E402
from reference_models.backbones import build_backbone  # noqa: E402
from reference_models.classifier import WSLClassifier  # noqa: E402
from reference_models.pooling import build_pooling  # noqa: E402


def _fresh_task(size: int):
    torch.manual_seed(0)
    return build_task("tiny", "gwap", len(CLASS_NAMES), size, weights=None)


def _bare_training(batches: list, images: list, size: int) -> float:
    task = _fresh_task(size).train()
    optimizer = torch.optim.SGD(task.parameters(), lr=0.01, momentum=0.9)
    start = time.perf_counter()
    for batch, image in zip(batches, images):
        loss = sum(task(batch, image).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def _engine_training(dataset: ImageLabelDataset, sampler: TrainBatches, normalize: Normalizer, folder: Path,
                     size: int, iterations: int) -> float:
    task = _fresh_task(size)
    optimizer = torch.optim.SGD(task.parameters(), lr=0.01, momentum=0.9)
    run = Run(folder, "bench")
    run.folder.mkdir()
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=0)
    hooks = [ProgressHook("bench", 0, iterations), PeriodicHook(max(iterations // 3, 1), lambda it, _: save_checkpoint(
        run, task, optimizer, it)), PeriodicHook(50, lambda it, losses: run.log(f"{it} {losses}"))]
    start = time.perf_counter()
    train(task, loader, optimizer, SCHEDULES["quick"], 0, lambda b: normalize(b.images), hooks)
    return time.perf_counter() - start


def bench_training(root: Path, folder: Path, iterations: int, repeats: int) -> None:
    """Best of `repeats` alternating runs of each side (the first run of either pays the warm-up)."""
    schedule = SCHEDULES["quick"]
    size, batch_size = schedule.image_size, schedule.batch_size
    samples = read_voc(root, "trainval", CLASS_NAMES).samples
    dataset = ImageLabelDataset(samples, size)
    sampler = TrainBatches(len(samples), batch_size, 0, 0.5, 0, iterations)
    batches = [collate([dataset[k] for k in keys]) for keys in sampler]
    task = _fresh_task(size)
    normalize = Normalizer(task.classifier.backbone.mean, task.classifier.backbone.std)
    images = [normalize(b.images) for b in batches]
    bare, ours = float("inf"), float("inf")
    for repeat in range(repeats):
        bare = min(bare, _bare_training(batches, images, size))
        ours = min(ours, _engine_training(dataset, sampler, normalize, folder / f"run{repeat}", size, iterations))
    print_row(f"training loop, {iterations} iterations x {batch_size} images", ours, bare,
              "bare forward+backward+step on in-memory batches")
    print(f"  training overhead: {100 * (ours / bare - 1):.1f} % (target <= 10 %)")


def bench_prediction(root: Path, net: str, size: int, count: int, cached: bool) -> None:
    """predict() through the data loader (decoded from disk by 2 workers, or from the uint8 cache the
    table commands use for small sets) against forward-only on the same batches in memory."""
    samples = read_voc(root, "test", CLASS_NAMES).samples[:count]
    torch.manual_seed(0)
    task = build_task(net, "gwap", len(CLASS_NAMES), size, weights=None).eval()
    normalize = Normalizer(task.classifier.backbone.mean, task.classifier.backbone.std)
    dataset = ImageLabelDataset(samples, size, cache_bytes=2**31 if cached else 0)
    keys = shard_keys(len(samples))
    batched = [keys[i : i + 16] for i in range(0, len(keys), 16)]
    in_memory = [collate([dataset[k] for k in b]) for b in batched]
    with torch.no_grad():
        start = time.perf_counter()
        for batch in in_memory:
            task.predict(batch, normalize(batch.images))
        forward = time.perf_counter() - start
    loader = DataLoader(dataset, batch_sampler=batched, collate_fn=collate, num_workers=0 if cached else 2)
    start = time.perf_counter()
    predict(task, loader, lambda b: normalize(b.images), [s.image_id for s in samples], 16)
    ours = time.perf_counter() - start
    source = "cached" if cached else "from disk, 2 workers"
    print_row(f"prediction, {net} {size}px, {len(samples)} images {source}", ours, forward,
              "forward only on in-memory batches")
    print(f"  prediction throughput: {100 * forward / ours:.0f} % of forward-only (target >= 90 %)")


def _median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_gwap_overhead(repeats: int) -> None:
    """The two classifiers share one backbone, so their difference is the head (pooling + fc): each
    head is timed on the same backbone features (median of many repeats, interleaved), and the
    overhead is (head_gwap - head_gap) / whole GAP forward. Whole-model times of a few repeats
    differ by +-10 % from run to run on a shared machine, far more than the heads' difference."""
    torch.manual_seed(0)
    backbone = build_backbone("googlenet", None).eval()
    models = {name: WSLClassifier(backbone, build_pooling(name, backbone.out_channels, 20), 20).eval()
              for name in ("gap", "gwap")}
    images = torch.randn(2, 3, 448, 448)
    with torch.no_grad():
        features = backbone(images)
        forward = _median_time(lambda: models["gap"](images), repeats)

        def head(name: str):
            model = models[name]
            return lambda: model.classifier(model.head(features).output)

        head_time = {name: 0.0 for name in models}
        for _ in range(5):
            for name in models:
                head_time[name] += _median_time(head(name), 20 * repeats) / 5
    print_row("googlenet 448x448 forward, batch 2: gwap vs gap", forward + head_time["gwap"] - head_time["gap"],
              forward, "the same with GAP (heads timed apart)")
    print(f"  heads: gap {1e3 * head_time['gap']:.2f} ms, gwap {1e3 * head_time['gwap']:.2f} ms; whole GAP forward "
          f"{1e3 * forward:.0f} ms")
    overhead = (head_time["gwap"] - head_time["gap"]) / forward
    print(f"  GWAP forward overhead over GAP: {100 * overhead:.2f} % (target <= 3 %)")


def run(quick: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_synthetic_voc(folder / "voc")
        root = folder / "voc" / "VOCdevkit" / VOC_YEAR
        bench_training(root, folder, iterations=10 if quick else 60, repeats=1 if quick else 3)
        bench_prediction(root, "tiny", SCHEDULES["quick"].image_size, 300, cached=True)
        bench_prediction(root, "tiny", SCHEDULES["quick"].image_size, 300, cached=False)
        bench_prediction(root, "googlenet", 448, 16 if quick else 48, cached=False)
    bench_gwap_overhead(repeats=2 if quick else 7)


if __name__ == "__main__":
    run_script(run, __doc__, "fewer iterations and repeats (a smoke run)")
