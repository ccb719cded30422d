"""Chores for the CLIP course: which model, where the data is, drawing results.

The lesson's own code (processor, get_image_features, cosine similarity, argmax, topk)
stays in the notebooks; this package only keeps the notebooks short and consistent.
Where the package itself takes embeddings it goes through ``models.features``, the notebooks'
``getattr(features, "pooler_output", features)`` line (a tensor on transformers 4.x and 5.x alike).
"""
