"""Local generation with plain `transformers`: any causal LM folder or hub id, or a GGUF file inside a folder.

The model is loaded on first use and kept for the life of the worker process (one cache entry per
model + gguf file + device). CUDA with bf16 when present and asked for ("auto"), CPU float32 otherwise.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import torch

from ml.engine.emailgen.backends.base import BackendError
from ml.engine.emailgen.types import GenerationResult

_CACHE: dict[tuple[str, str, str], tuple[Any, Any, torch.device]] = {}
_LOCK = threading.Lock()


def device_resolve(name: str) -> torch.device:
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def model_load(*, model_path: str, gguf_file: str = "", device: str = "auto") -> tuple[Any, Any, torch.device]:
    """(tokenizer, model, device), loaded once per process. Raises a non-retryable BackendError."""
    resolved = device_resolve(device)
    key = (model_path, gguf_file, str(resolved))
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        from transformers import AutoModelForCausalLM, AutoTokenizer

        threads = os.environ.get("OMP_NUM_THREADS", "")
        if threads.isdigit() and int(threads) > 0 and torch.get_num_threads() != int(threads):
            torch.set_num_threads(int(threads))  # a shared machine: never more threads than the operator allows
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        dtype = torch.bfloat16 if resolved.type == "cuda" else torch.float32
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_path, **extra)
            model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, **extra)
        except Exception as exc:  # noqa: BLE001 -- any load failure is reported the same way to the rep
            where = f"{model_path} ({gguf_file})" if gguf_file else model_path
            raise BackendError(f"Could not load the local model {where}: {exc}", retryable=False) from exc
        model.to(resolved).eval()
        _CACHE[key] = (tokenizer, model, resolved)
        return _CACHE[key]


def model_cache_clear() -> None:
    with _LOCK:
        _CACHE.clear()


def prompt_render(tokenizer: Any, messages: list[dict[str, str]]) -> tuple[str, str]:
    """(prompt, prefix): the tokenizer's chat template (a plain "role: text" layout for models without one).

    A final assistant message is a prefix the model continues ("Subject:"): it is appended after the
    generation prompt and returned so the caller can put it back in front of the completion.
    """
    prefix = ""
    if messages and messages[-1]["role"] == "assistant":
        prefix, messages = messages[-1]["content"], messages[:-1]
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    else:
        prompt = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "
    return prompt + prefix, prefix


@dataclass
class LocalBackend:
    model_path: str
    gguf_file: str = ""
    device: str = "auto"
    timeout: float = 300.0  # safety cap: generation stops (keeping what it has) after this many seconds
    top_p: float = 0.9
    repetition_penalty: float = 1.1
    name: str = "local"
    continues_assistant_message: bool = True  # a final assistant message is continued, not answered

    @property
    def model_name(self) -> str:
        return self.gguf_file or self.model_path

    def generate(
        self,
        messages: list[dict[str, str]],
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        json_schema: dict | None = None,
    ) -> GenerationResult:
        started = time.perf_counter()
        tokenizer, model, device = model_load(model_path=self.model_path, gguf_file=self.gguf_file, device=self.device)
        constraint = None
        if json_schema is not None:
            from ml.engine.emailgen.backends.json_constraint import prefix_allowed_tokens_fn_build

            # A JSON answer is not continued from "Subject:"; the constraint keeps it valid while decoding.
            messages = messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages
            constraint = prefix_allowed_tokens_fn_build(tokenizer=tokenizer, schema=json_schema)
        prompt, prefix = prompt_render(tokenizer, messages)
        inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(device)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        sampling: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": float(temperature), "top_p": self.top_p}
        eos = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.inference_mode():
                torch.manual_seed(seed)
                output = model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens,
                    repetition_penalty=self.repetition_penalty,
                    max_time=self.timeout,
                    pad_token_id=pad,
                    eos_token_id=eos,
                    prefix_allowed_tokens_fn=constraint,
                    **sampling,
                )
        except Exception as exc:  # noqa: BLE001 -- e.g. CUDA out of memory: the draft falls back, reason kept
            raise BackendError(f"Local generation failed: {exc}") from exc
        completion = output[0, prompt_tokens:]
        if eos is not None:
            ends = (completion == eos).nonzero()
            completion = completion[: int(ends[0])] if len(ends) else completion
        completion_text = tokenizer.decode(completion, skip_special_tokens=True)
        if not completion_text.strip():
            raise BackendError("The local model returned no text.")
        text = (prefix + completion_text).strip()
        return GenerationResult(
            text=text,
            backend=self.name,
            model=self.model_name,
            seconds=time.perf_counter() - started,
            prompt_tokens=prompt_tokens,
            completion_tokens=int(completion.shape[0]),
        )

    def generate_batch(
        self,
        conversations: list[list[dict[str, str]]],
        *,
        max_new_tokens: int,
        temperature: float,
        seed: int,
        json_schema: dict | None = None,
    ) -> list[GenerationResult | BackendError]:
        """Several drafts in one `generate` (left-padded): on a GPU, decoding a batch costs about as much per
        step as one sequence, so queued drafts finish together in the time of one. Each conversation gets its
        own JSON constraint; an empty answer is a BackendError in its slot, not a failure of the batch."""
        started = time.perf_counter()
        tokenizer, model, device = model_load(model_path=self.model_path, gguf_file=self.gguf_file, device=self.device)
        rendered = []
        for messages in conversations:
            if json_schema is not None and messages and messages[-1]["role"] == "assistant":
                messages = messages[:-1]
            rendered.append(prompt_render(tokenizer, messages))
        constraint = None
        if json_schema is not None:
            from ml.engine.emailgen.backends.json_constraint import prefix_allowed_tokens_fn_build

            rows = [prefix_allowed_tokens_fn_build(tokenizer=tokenizer, schema=json_schema) for _ in rendered]
            if all(row is not None for row in rows):

                def constraint(batch_id: int, sequence: torch.Tensor) -> list[int]:
                    return rows[batch_id](batch_id, sequence[sequence != pad] if pad is not None else sequence)

        eos = tokenizer.eos_token_id
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
        side = tokenizer.padding_side
        tokenizer.padding_side = "left"  # generation appends on the right: prompts must end at the same column
        try:
            if tokenizer.pad_token_id is None:
                tokenizer.pad_token = tokenizer.eos_token
            inputs = tokenizer(
                [prompt for prompt, _ in rendered], return_tensors="pt", padding=True, add_special_tokens=False
            ).to(device)
        finally:
            tokenizer.padding_side = side
        sampling: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": float(temperature), "top_p": self.top_p}
        try:
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []), torch.inference_mode():
                torch.manual_seed(seed)
                output = model.generate(
                    **inputs,
                    max_new_tokens=max_new_tokens,
                    repetition_penalty=self.repetition_penalty,
                    max_time=self.timeout,
                    pad_token_id=pad,
                    eos_token_id=eos,
                    prefix_allowed_tokens_fn=constraint,
                    **sampling,
                )
        except Exception as exc:  # noqa: BLE001 -- the whole batch falls back, reason kept
            raise BackendError(f"Local batched generation failed: {exc}") from exc
        seconds = time.perf_counter() - started
        width = int(inputs["input_ids"].shape[1])
        results: list[GenerationResult | BackendError] = []
        for row, (_, prefix) in enumerate(rendered):
            completion = output[row, width:]
            ends = (completion == eos).nonzero() if eos is not None else []
            completion = completion[: int(ends[0])] if len(ends) else completion
            text = tokenizer.decode(completion, skip_special_tokens=True)
            if not text.strip():
                results.append(BackendError("The local model returned no text."))
                continue
            results.append(
                GenerationResult(
                    text=(prefix + text).strip(),
                    backend=self.name,
                    model=self.model_name,
                    seconds=seconds,
                    prompt_tokens=int(inputs["attention_mask"][row].sum()),
                    completion_tokens=int(completion.shape[0]),
                )
            )
        return results
