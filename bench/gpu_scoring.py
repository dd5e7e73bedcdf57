"""Benchmark: lead/churn Transformer scoring and training, CPU vs GPU, Django-free (runs on a bare GPU host).

    OMP_NUM_THREADS=2 .venv/bin/python bench/gpu_scoring.py [--rows 1000000] [--csv PATH] [--json OUT]

What it measures, each device side by side in one run (CUDA only when torch sees a GPU; otherwise the
table says so and shows the CPU alone):

1. training: the FT-Transformer on the Telco churn CSV (../shared/data, 7,043 rows; the same loader and
   split as `manage.py ml_benchmark`): seconds, epochs, held-out ROC-AUC per device;
2. inference: that model scoring `--rows` rows (the Telco rows tiled; encoding excluded) at the serving
   batch size: rows/s in fp32 on every device and bf16 autocast on CUDA;
3. the reference, measured in the same run: tuned-LightGBM `predict` on the same rows on the CPU (what a
   team without a GPU would serve instead).

Ratios hold on a noisy machine; absolute times do not. Nothing is downloaded: the data comes from
../shared/data (or --csv), the model is trained here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CSV = ROOT.parent / "shared" / "data" / "telco-customer-churn" / "Telco-Customer-Churn.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--csv", default=str(DEFAULT_CSV))
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows scored per device")
    parser.add_argument("--cpu-batch-size", type=int, default=1024)
    parser.add_argument("--gpu-batch-size", type=int, default=16384)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch

    from ml.engine.baselines import lightgbm_baseline_fit
    from ml.engine.benchmark import benchmark_dataset_load
    from ml.engine.inference import predict_logits, torch_threads_set
    from ml.engine.schema import EncodedTable
    from ml.engine.training import TrainingParams, holdout_split, train_tabular_model

    csv_path = Path(args.csv)
    if not csv_path.exists():
        print(f"gpu_scoring: {csv_path} not found (the shared datasets live in ../shared/data)", file=sys.stderr)
        return 2
    torch_threads_set(args.threads)
    # The loader drops all-unique id columns (customerID) by itself, as ml_benchmark does.
    dataset = benchmark_dataset_load(csv_path=csv_path, target="Churn", positive="Yes")
    split = holdout_split(dataset.labels, groups=None, valid_fraction=0.15, test_fraction=0.15, seed=0)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    gpu_name = torch.cuda.get_device_name(0) if "cuda" in devices else None
    print(
        f"data: {csv_path.name}, {len(dataset.frame):,} rows; torch {torch.__version__}; CPU threads {args.threads}; "
        f"GPU: {gpu_name or 'none (CUDA not available: CPU figures only)'}"
    )

    figures: dict = {"rows_scored": args.rows, "threads": args.threads, "gpu": gpu_name, "devices": {}}
    models = {}
    for device in devices:
        params = TrainingParams(device=device, epochs=args.epochs, seed=0)
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        trained = train_tabular_model(
            frame=dataset.frame, labels=dataset.labels, schema=dataset.schema, params=params, split=split
        )
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        models[device] = trained
        figures["devices"][device] = {
            "train_seconds": round(seconds, 2),
            "epochs": len(trained.log),
            "roc_auc": round(float(trained.metrics["roc_auc"]), 4),
        }
        print(
            f"train  {device:5s} {seconds:8.1f} s  {len(trained.log):3d} epochs  ROC-AUC {trained.metrics['roc_auc']:.4f}"
        )

    # The rows to score: the Telco rows encoded once, tiled up to --rows (encoding is not what we time).
    reference_model = models["cpu"]
    encoded_once = reference_model.preprocessor.transform(dataset.frame)
    repeats = -(-args.rows // len(encoded_once))
    encoded = EncodedTable(
        numeric=np.tile(encoded_once.numeric, (repeats, 1))[: args.rows],
        categorical=np.tile(encoded_once.categorical, (repeats, 1))[: args.rows],
    )

    def score(device: str, *, bf16: bool) -> float:
        model = models[device]
        net = model.net.to(device)
        batch = args.gpu_batch_size if device == "cuda" else args.cpu_batch_size
        # Same preprocessor for every device's model: they were trained on the same frame and schema.
        warm = encoded.take(slice(0, batch))
        predict_logits(net, warm, device=torch.device(device), batch_size=batch, mixed_precision=bf16)
        if device == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        predict_logits(net, encoded, device=torch.device(device), batch_size=batch, mixed_precision=bf16)
        if device == "cuda":
            torch.cuda.synchronize()
        return args.rows / (time.perf_counter() - started)

    for device in devices:
        figures["devices"][device]["rows_per_second_fp32"] = round(score(device, bf16=False))
        if device == "cuda":
            figures["devices"][device]["rows_per_second_bf16"] = round(score(device, bf16=True))

    # Reference in the same run: LightGBM on the CPU over the same rows.
    fit_rows, valid_rows, _ = split
    lightgbm = lightgbm_baseline_fit(
        frame=dataset.frame.iloc[fit_rows],
        labels=dataset.labels[fit_rows],
        valid_frame=dataset.frame.iloc[valid_rows],
        valid_labels=dataset.labels[valid_rows],
        schema=dataset.schema,
        seed=0,
        n_jobs=args.threads,
        n_configs=4,
    )
    lgbm_rows = lightgbm.encode(dataset.frame)
    tiled = lgbm_rows.iloc[np.tile(np.arange(len(lgbm_rows)), repeats)[: args.rows]]
    started = time.perf_counter()
    lightgbm.logits_encoded(tiled)
    lightgbm_rate = args.rows / (time.perf_counter() - started)
    figures["lightgbm_cpu_rows_per_second"] = round(lightgbm_rate)

    print(f"\nscoring {args.rows:,} rows (encoding excluded)")
    print(f"{'model / device':32s} {'rows/s':>12s} {'vs LightGBM CPU':>16s}")
    print(f"{'LightGBM predict, CPU':32s} {lightgbm_rate:12,.0f} {1.0:16.2f}")
    for device in devices:
        stats = figures["devices"][device]
        label = f"Transformer fp32, {device}"
        print(
            f"{label:32s} {stats['rows_per_second_fp32']:12,.0f} {stats['rows_per_second_fp32'] / lightgbm_rate:16.2f}"
        )
        if "rows_per_second_bf16" in stats:
            label = f"Transformer bf16, {device}"
            print(
                f"{label:32s} {stats['rows_per_second_bf16']:12,.0f} {stats['rows_per_second_bf16'] / lightgbm_rate:16.2f}"
            )
    if "cuda" in devices:
        cpu, gpu = figures["devices"]["cpu"], figures["devices"]["cuda"]
        print(
            f"\ntraining: GPU {gpu['train_seconds']:.1f} s vs CPU {cpu['train_seconds']:.1f} s "
            f"({cpu['train_seconds'] / gpu['train_seconds']:.1f}x)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
