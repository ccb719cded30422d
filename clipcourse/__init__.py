"""Chores for the CLIP course: which model, where the data is, drawing results.

The lesson's own code (processor, get_image_features, cosine similarity, argmax, topk)
stays in the notebooks; this package only keeps the notebooks short and consistent.
"""
