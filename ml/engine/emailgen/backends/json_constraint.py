"""JSON-schema constrained decoding for the transformers path: a `prefix_allowed_tokens_fn` for `generate`.

Built on lm-format-enforcer's character-level JSON-schema parser and token enforcer (its own transformers
integration imports a module transformers 5 removed, so the few lines that adapt a tokenizer live here). The
tokenizer's prefix tree takes a few seconds to build and is cached per tokenizer for the life of the process.
Without the package, `None` is returned and the caller generates unconstrained (the parser still reads JSON).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_TOKENIZER_DATA: dict[int, Any] = {}
_LOCK = threading.Lock()


def tokenizer_data_get(*, tokenizer: Any) -> Any:
    """lm-format-enforcer's view of `tokenizer`: every regular token's text and whether it starts a word."""
    from lmformatenforcer import TokenEnforcerTokenizerData

    with _LOCK:
        cached = _TOKENIZER_DATA.get(id(tokenizer))
        if cached is not None:
            return cached
        vocab_size = len(tokenizer)
        special = set(tokenizer.all_special_ids)
        zero = tokenizer.encode("0", add_special_tokens=False)[-1]
        regular = []
        for token in range(vocab_size):
            if token in special:
                continue
            # Decoded after "0", a word-start token keeps its leading space; alone it may lose it.
            after_zero = tokenizer.decode([zero, token])[1:]
            regular.append((token, after_zero, len(after_zero) > len(tokenizer.decode([token]))))

        def decode(tokens: list[int]) -> str:
            return tokenizer.decode(tokens).rstrip("\ufffd")

        data = TokenEnforcerTokenizerData(regular, decode, tokenizer.eos_token_id, False, vocab_size)
        _TOKENIZER_DATA[id(tokenizer)] = data
        return data


def prefix_allowed_tokens_fn_build(*, tokenizer: Any, schema: dict) -> Callable[[int, Any], list[int]] | None:
    """The function `generate(prefix_allowed_tokens_fn=...)` calls at each step: the token ids that keep the
    output a valid prefix of JSON matching `schema`. None when lm-format-enforcer is not installed."""
    try:
        from lmformatenforcer import CharacterLevelParserConfig, JsonSchemaParser, TokenEnforcer
    except ImportError:
        return None
    # One space at most between JSON tokens and keys in the schema's order: no budget spent on indentation.
    config = CharacterLevelParserConfig(max_consecutive_whitespaces=1, force_json_field_order=True)
    enforcer = TokenEnforcer(tokenizer_data_get(tokenizer=tokenizer), JsonSchemaParser(schema, config=config))

    def allowed(batch_id: int, sequence: Any) -> list[int]:
        return enforcer.get_allowed_tokens(sequence.tolist()).allowed_tokens

    return allowed
