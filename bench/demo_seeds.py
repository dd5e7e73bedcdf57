"""Every model family on an organisation's own data over several seeds: mean ± sd of the held-out metrics.

    SALESAI_ENV=local SALESAI_VAR_DIR=/tmp/seeds OMP_NUM_THREADS=1 .venv/bin/python bench/demo_seeds.py [--org demo] [--seeds 0 1 2]
        [--task lead_conversion|churn]

Each seed is one full training run through the one training recipe (`ml.training_services.model_train`): a different
stable split (seeded hash of each contact), the Transformer, the tuned LightGBM and the logistic regression on
the same rows, so the per-family numbers are paired within a seed. It registers a model version per seed (the
gate decides as usual), so run it against a scratch database: a SALESAI_VAR_DIR of its own with the demo
seeded (`manage.py migrate && manage.py demo_seed`), or a scratch DATABASE_URL.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesai.settings")

METRICS = ("roc_auc", "pr_auc", "brier", "ece")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--org", default="demo")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--task", default="lead_conversion")
    args = parser.parse_args()

    import django

    django.setup()
    from ml import training_services
    from salesai.core.models import Organization

    organization = Organization.objects.get(slug=args.org)
    rows: dict[str, dict[str, list[float]]] = {}
    served: list[str] = []
    for seed in args.seeds:
        started = time.monotonic()
        version = training_services.model_train(organization_id=organization.id, task=args.task, params={"seed": seed})
        metrics = version.metrics
        families = {"transformer": metrics["transformer"], **metrics["baselines"]}
        for family, values in families.items():
            for key in (*METRICS, "train_seconds"):
                if values.get(key) is not None:
                    rows.setdefault(family, {}).setdefault(key, []).append(float(values[key]))
        served.append(metrics["family"])
        print(
            f"seed {seed}: v{version.version} {metrics['family']} serves, test rows "
            f"{metrics['split_rows']['test']}, {time.monotonic() - started:.0f}s; "
            + ", ".join(f"{f} {v['roc_auc']:.4f}" for f, v in families.items() if v.get("roc_auc") is not None),
            file=sys.stderr,
            flush=True,
        )

    print(f"{args.org} {args.task}: held-out metrics, mean ± sd over seeds {args.seeds}")
    print(f"{'family':<12} " + " ".join(f"{key:>17}" for key in (*METRICS, "train_seconds")))
    for family, values in rows.items():
        cells = []
        for key in (*METRICS, "train_seconds"):
            series = values.get(key, [])
            cells.append(
                f"{np.mean(series):.4f} ± {np.std(series, ddof=1) if len(series) > 1 else 0:.4f}" if series else "n/a"
            )
        print(f"{family:<12} " + " ".join(f"{cell:>17}" for cell in cells))
    print(f"served per seed: {', '.join(served)}")


if __name__ == "__main__":
    main()
