"""Free text -> sentence embeddings (all-MiniLM-L6-v2, shipped offline), cached by content hash.

`encoder.py` is pure torch/transformers (no Django); `cache.py` is the Django side (TextEmbedding rows).
"""
