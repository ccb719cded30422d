"""The benchmark's "lecture's way" is notebook 03's batched embedding cell itself (bench/ratios.py runs its
source as written), so an edit to that cell changes what `make bench-real` measures. This checks, with a
stand-in model and processor (no CLIP, a fraction of a second), that the cell still takes the names the
benchmark gives it and leaves the names it reads back.
"""
import torch

from bench.ratios import lecture_cell


class CountingProcessor:
    def __init__(self):
        self.batches = []

    def __call__(self, images, return_tensors, padding):
        assert return_tensors == "pt"
        self.batches.append(len(images))
        return {"pixel_values": torch.arange(len(images), dtype=torch.float32).reshape(-1, 1)}


class EchoModel:
    def get_image_features(self, pixel_values):
        assert not torch.is_grad_enabled(), "the lecture's cell embeds under torch.no_grad()"
        return pixel_values.repeat(1, 512)


def test_the_benchmark_runs_notebook_03s_batched_cell_as_written():
    processor = CountingProcessor()
    scope = {"torch": torch, "model": EchoModel(), "processor": processor, "gallery_images": list(range(200))}
    exec(compile(lecture_cell(), "notebook 03, batched embedding cell", "exec"), scope)
    assert tuple(scope["gallery_embeddings"].shape) == (200, 512)
    batch_size = scope["batch_size"]
    assert isinstance(batch_size, int) and 1 <= batch_size <= 200
    assert sum(processor.batches) == 200 and max(processor.batches) == batch_size, \
        "the processor sees each picture once, batch_size at a time"
