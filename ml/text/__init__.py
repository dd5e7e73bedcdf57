"""Free text -> sentence embeddings cached by content hash (TextEmbedding rows): the Django side.

The encoder itself (all-MiniLM-L6-v2, shipped offline) is pure torch/transformers in `ml.engine.text_encoder`.
"""
