"""Ratios measured side by side in one run (``make bench-real``): what a user would compare.

    python -m bench.ratios [--model standin|course|FOLDER] [--part embed topk grading] [--copies 4]

1. ``embed``: the 200 gallery images embedded the lecture's way (notebook 03's batched cell, its source
   run as written: the processor on a list of 32 PIL images at a time, then ``get_image_features`` under
   ``torch.no_grad``, torch's default thread count) against the fastest raw batched call of the same model
   (pixel values prepared once, the best batch size and thread count, ``torch.inference_mode``), and where
   the difference goes, each measured apart: decoding the PNGs, the processor per batch against one pass,
   the tensor it creates, the model calls, ``no_grad`` against ``inference_mode``, one thread, one batch of
   200. All are timed in turn, ``--repeats`` times each (the fastest counts), in wall and CPU time.
2. ``grading``: the quiz_search solution graded ``--copies`` times sequentially (``--jobs 1``) and in
   parallel (``--jobs`` = cores): the grading overhead per submission beyond the notebook's own run
   (nbclient, no grading, same threads), and the speed-up, with the grades of both runs compared.
3. ``topk``: one query's Top-K over the 200 gallery embeddings, the lecture's way
   (``cosine_similarity`` + ``topk``) against a normalised matrix product (gallery normalised once),
   then the same at 100 000 × 512 random unit vectors, against the memory-bandwidth bound: the bytes the
   search must read ÷ the copy bandwidth measured here (``torch`` copy of a 256 MB tensor).

Writes ``build/real-size/ratios-<model>.json``. Only ratios measured in the same run mean much on a
shared machine; the absolute seconds depend on its load (printed at the start and end).
"""
import argparse
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from clipcourse.models import features

from .common import OFFLINE, OUT, ROOT, machine, model_facts, model_folder, say, write_json

BATCH_SIZES = (8, 16, 32, 64)  # the raw call's sweep (on 64 images)


def _timed(func, *args):
    started = time.perf_counter()
    value = func(*args)
    return time.perf_counter() - started, value


def _timed2(func, *args):
    """(wall seconds, this process's CPU seconds, value): on a shared machine the CPU time is the steadier."""
    wall, cpu = time.perf_counter(), time.process_time()
    value = func(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, value


# ---- 1. embedding the gallery -------------------------------------------------------------------------
NOTEBOOK_03 = ROOT / "notebooks" / "03_topk_search.ipynb"
#: Finds notebook 03's batched embedding cell: the lecture's way is that cell, run as written.
LECTURE_CELL_MARK = "for start in tqdm("


def lecture_cell(path=NOTEBOOK_03):
    """The source of notebook 03's batched embedding cell. The benchmark runs this text itself, so "the
    lecture's way" is always what the notebook teaches, never a copy that could drift from it."""
    import nbformat

    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code" and LECTURE_CELL_MARK in cell.source:
            return cell.source
    raise SystemExit(f"{path}: no code cell contains {LECTURE_CELL_MARK!r} (the batched embedding cell)")


class _Clock:
    """Wall and CPU seconds spent inside ``with clock:`` blocks, summed."""

    def __init__(self):
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self._started = time.perf_counter(), time.process_time()

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._started[0]
        self.cpu += time.process_time() - self._started[1]


def embed(folder, repeats):
    """Notebook 03's batched cell against the fastest raw call, and each thing that could make the difference
    measured apart on the same 200 images in the same run: the processor (per batch against one pass), the
    tensor it creates, the model call, ``no_grad`` against ``inference_mode``, the thread count, the batch size."""
    import contextlib
    import io

    import numpy as np
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor
    from transformers.utils import is_torchvision_available

    from clipcourse import data

    default_threads = torch.get_num_threads()  # what a notebook kernel runs with: it sets no thread count
    cores = os.cpu_count() or 1
    thread_counts = sorted({1, default_threads, cores})
    model = CLIPModel.from_pretrained(folder).eval()
    processor = CLIPProcessor.from_pretrained(folder, backend="pil")  # as the notebooks load it
    paths = data.gallery_paths()

    def decode():
        images = []
        for path in paths:
            with Image.open(path) as im:
                im.load()
                images.append(im.convert("RGB"))
        return images

    decode_s, images = min((_timed(decode) for _ in range(2)), key=lambda t: t[0])
    load_images_s, _ = _timed(data.load_images, paths)  # the notebook's loader: manifest check + decode
    code = compile(lecture_cell(), "notebook 03, batched embedding cell", "exec")

    def lecture():  # the cell as written (its tqdm bar and prints swallowed), torch's default threads
        scope = {"torch": torch, "model": model, "processor": processor, "gallery_images": images}
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            exec(code, scope)
        lecture.batch_size = scope.get("batch_size")
        return scope["gallery_embeddings"]

    def loop(batch_size, mode=torch.no_grad):
        """The cell's loop with its two parts timed apart: the processor (tensor included) and the model."""
        parts, out = {"processor": _Clock(), "model": _Clock()}, []
        with mode():
            for start in range(0, len(images), batch_size):
                with parts["processor"]:
                    inputs = processor(images=images[start:start + batch_size], return_tensors="pt", padding=True)
                with parts["model"]:
                    out.append(features(model.get_image_features(**inputs)))
        loop.parts = parts
        return torch.cat(out)

    def preprocess():  # the raw call's one processor pass
        return processor(images=images, return_tensors="pt")["pixel_values"]

    def raw(pixels, batch_size):
        with torch.inference_mode():
            return torch.cat([features(model.get_image_features(pixel_values=pixels[s:s + batch_size]))
                              for s in range(0, len(pixels), batch_size)])

    def threads(n, func, *args):
        torch.set_num_threads(n)
        try:
            return func(*args)
        finally:
            torch.set_num_threads(default_threads)

    with torch.no_grad():  # warm-up: the first calls allocate
        features(model.get_image_features(**processor(images=images[:8], return_tensors="pt")))
    lecture()
    batch = lecture.batch_size or 32

    # Tensor creation: what return_tensors="pt" adds to the processor (its arrays stacked into one tensor).
    arrays = [processor.image_processor(images[s:s + batch], return_tensors=None)["pixel_values"]
              for s in range(0, len(images), batch)]
    tensor_clock = _Clock()
    for _ in range(3):
        for a in arrays:
            with tensor_clock:
                torch.tensor(np.array(a))
    tensor_s, tensor_cpu = tensor_clock.wall / 3, tensor_clock.cpu / 3

    # The raw call's best batch size and thread count, swept on the first 64 images (one pass each: a whole
    # sweep at 224 px would take long on a laptop); one call on all 200 is tried in the timed passes too.
    subset = processor(images=images[:64], return_tensors="pt")["pixel_values"]
    sweep = {f"{n}_threads": {size: round(threads(n, _timed, raw, subset, size)[0] * len(images) / len(subset), 3)
                              for size in BATCH_SIZES} for n in thread_counts}
    best_threads, best_batch = min(((n, size) for n in thread_counts for size in BATCH_SIZES),
                                   key=lambda c: sweep[f"{c[0]}_threads"][c[1]])

    # Everything on all 200 images, in turn within each repeat, so that the machine's load hits them alike.
    runs = {
        "lecture": lambda: lecture(),
        f"loop_batch_{batch}": lambda: loop(batch),
        f"loop_batch_{batch}_inference_mode": lambda: loop(batch, torch.inference_mode),
        f"loop_batch_{batch}_1_thread": lambda: threads(1, loop, batch),
        f"loop_batch_{len(images)}": lambda: loop(len(images)),
        "processor_one_pass": preprocess,
        "raw": lambda: threads(best_threads, raw, pixels, best_batch),
        f"raw_batch_{len(images)}": lambda: threads(best_threads, raw, pixels, len(images)),
    }
    if default_threads == 1:
        del runs[f"loop_batch_{batch}_1_thread"]
    pixels = preprocess()
    times = {name: [] for name in runs}
    parts = {name: {"processor": [], "model": []} for name in runs if name.startswith("loop_")}
    values = {}
    for _ in range(repeats):
        for name, func in runs.items():
            *t, values[name] = _timed2(func)
            times[name].append(t)
            if name in parts:
                for part, clock in loop.parts.items():
                    parts[name][part].append((clock.wall, clock.cpu))
    # The fastest of the repeats (as timeit does): other processes only ever add time.
    best = {name: (min(w for w, _ in ts), min(c for _, c in ts)) for name, ts in times.items()}
    best_parts = {name: {part: (min(w for w, _ in ps), min(c for _, c in ps)) for part, ps in p.items()}
                  for name, p in parts.items()}
    raw_key = min(("raw", f"raw_batch_{len(images)}"), key=lambda n: best[n][0])
    raw_batch = best_batch if raw_key == "raw" else len(images)
    lecture_s, lecture_cpu = best["lecture"]
    raw_s, raw_cpu = best[raw_key]
    processor_s, processor_cpu = best["processor_one_pass"]
    loop_key = f"loop_batch_{batch}"
    in_loop = best_parts[loop_key]
    same = torch.allclose(values["lecture"], values[raw_key], atol=1e-4)
    per_image_ms = lambda s: round(1000 * s / len(images), 2)  # noqa: E731
    r = lambda x: round(x, 3)  # noqa: E731

    def against(name):  # how much faster than the lecture's loop a variant runs (wall, CPU)
        return {"wall": r(best[loop_key][0] / best[name][0]), "cpu": r(best[loop_key][1] / best[name][1])}

    result = {
        "images": len(images), "lecture_batch_size": batch, "default_threads": default_threads, "cores": cores,
        "repeats": repeats, "image_processor": type(processor.image_processor).__name__,
        "fast_image_processor_available": bool(is_torchvision_available()),
        "decode_png_s": r(decode_s), "load_images_s": r(load_images_s),
        "raw_sweep_s": sweep, "raw_sweep": "one pass over the first 64 images, scaled to 200, inference_mode",
        "raw_threads": best_threads, "raw_batch_size": raw_batch,
        "wall_s": {name: r(w) for name, (w, _) in best.items()}, "cpu_s": {name: r(c) for name, (_, c) in best.items()},
        "loop_parts": {name: {part: {"wall_s": r(w), "cpu_s": r(c)} for part, (w, c) in p.items()}
                       for name, p in best_parts.items()},
        "tensor_creation_s": r(tensor_s), "tensor_creation_cpu_s": r(tensor_cpu),
        # Wall ÷ CPU time of each run: when it differs much between runs, the machine's load changed in between
        # (a busy machine makes wall times wait for a core), and only the CPU times compare.
        "wall_per_cpu": {name: r(w / max(c, 1e-9)) for name, (w, c) in best.items()},
        "lecture_s": r(lecture_s), "raw_s": r(raw_s),
        "lecture_images_per_s": round(len(images) / lecture_s, 1), "raw_images_per_s": round(len(images) / raw_s, 1),
        # The ratio: the raw call timed without its processor pass (pixels prepared beforehand).
        "lecture_vs_raw_throughput": r(raw_s / lecture_s), "lecture_vs_raw_cpu_time": r(raw_cpu / lecture_cpu),
        # The same from the same PIL images: the raw call's one processor pass counted too.
        "lecture_vs_raw_with_its_processor_pass": r((raw_s + processor_s) / lecture_s),
        "lecture_vs_raw_with_its_processor_pass_cpu": r((raw_cpu + processor_cpu) / lecture_cpu),
        "processor_share_of_lecture": r(in_loop["processor"][0] / best[loop_key][0]),
        "processor_share_of_lecture_cpu": r(in_loop["processor"][1] / best[loop_key][1]),
        "processor_per_batch_vs_one_pass": r(in_loop["processor"][0] / processor_s),
        "tensor_creation_share_of_lecture": r(tensor_s / best[loop_key][0]),
        "model_in_loop_vs_raw": {"wall": r(raw_s / in_loop["model"][0]), "cpu": r(raw_cpu / in_loop["model"][1])},
        "speed_up_over_the_loop": {name: against(name) for name in runs if name.startswith("loop_") and name != loop_key},
        "loop_vs_raw_throughput": {name: r(raw_s / best[name][0]) for name in runs if name.startswith("loop_")},
        "loop_vs_raw_with_its_processor_pass": {
            name: {"wall": r((raw_s + processor_s) / best[name][0]), "cpu": r((raw_cpu + processor_cpu) / best[name][1])}
            for name in runs if name.startswith("loop_")},
        "per_image_ms": {"decode_png": per_image_ms(decode_s), "processor": per_image_ms(processor_s),
                         "model_raw": per_image_ms(raw_s), "lecture": per_image_ms(lecture_s)},
        "same_embeddings": bool(same),
    }
    lecture_cell_vs_loop = best["lecture"][0] / best[loop_key][0]
    say(f"embedding {len(images)} images, torch's default {default_threads} threads on {cores} cores, "
        f"{result['image_processor']} (fast processor {'available' if result['fast_image_processor_available'] else 'unavailable: no torchvision'}):")
    say(f"  lecture's way (notebook 03's cell: processor + model per batch of {batch}, no_grad): {lecture_s:.2f} s "
        f"({result['lecture_images_per_s']} images/s); the same loop timed in parts: {lecture_cell_vs_loop:.2f}x its time")
    say(f"  raw (pixels prepared once, batch {raw_batch}, {best_threads} threads, inference_mode): {raw_s:.2f} s "
        f"({result['raw_images_per_s']} images/s); sweep on 64 images: {sweep}")
    say(f"  lecture / raw throughput = {result['lecture_vs_raw_throughput']:.2f}x (CPU time "
        f"{result['lecture_vs_raw_cpu_time']:.2f}x); counting the raw call's one processor pass ({processor_s:.2f} s): "
        f"{result['lecture_vs_raw_with_its_processor_pass']:.2f}x (CPU {result['lecture_vs_raw_with_its_processor_pass_cpu']:.2f}x)")
    say(f"  inside the loop: processor {in_loop['processor'][0]:.2f} s ({100 * result['processor_share_of_lecture']:.0f}%, "
        f"CPU {100 * result['processor_share_of_lecture_cpu']:.0f}%; {result['processor_per_batch_vs_one_pass']:.2f}x one pass), "
        f"of which tensor creation {tensor_s:.3f} s (CPU {tensor_cpu:.3f} s); model calls {in_loop['model'][0]:.2f} s "
        f"(CPU {in_loop['model'][1]:.2f} s; the raw call: {raw_s:.2f} s, CPU {raw_cpu:.2f} s)")
    for name, ratio in result["speed_up_over_the_loop"].items():
        with_pass = result["loop_vs_raw_with_its_processor_pass"][name]
        say(f"  {name}: {ratio['wall']:.2f}x the loop's speed (CPU time {ratio['cpu']:.2f}x), "
            f"{result['loop_vs_raw_throughput'][name]:.2f}x the raw call's, {with_pass['wall']:.2f}x "
            f"(CPU {with_pass['cpu']:.2f}x) counting its processor pass")
    spread = [v for name, v in result["wall_per_cpu"].items() if name != "processor_one_pass"]
    if max(spread) > 3 * min(spread):  # on an idle machine 1 and 2 threads differ by up to 2x
        say(f"  the load changed during the run (wall / CPU time from {min(spread):.1f} to {max(spread):.1f}): "
            "compare the CPU times, not the wall times")
    say(f"  decoding the 200 PNGs (PIL, before either): {decode_s:.2f} s; load_images with the manifest check: "
        f"{load_images_s:.2f} s; same embeddings: {same}")
    return result, values[raw_key]


# ---- 3. Top-K -----------------------------------------------------------------------------------------
def _per_call(func, budget_s=1.0, at_least=5):
    func()
    n, started = 0, time.perf_counter()
    while n < at_least or time.perf_counter() - started < budget_s:
        func()
        n += 1
    return (time.perf_counter() - started) / n


def copy_bandwidth(mb=256):
    """Copy bandwidth in GB/s (STREAM's convention: bytes read + bytes written, per second)."""
    import torch

    src = torch.rand(mb * 2**20 // 4)
    dst = torch.empty_like(src)
    seconds = min(_per_call(lambda: dst.copy_(src), 0.5) for _ in range(3))
    return 2 * src.numel() * 4 / seconds / 1e9


def topk(gallery):
    import torch
    from torch.nn.functional import cosine_similarity, normalize

    torch.set_num_threads(os.cpu_count() or 1)
    result = {}
    for label, embeddings in (("gallery_200", gallery.float()),
                              ("random_100k", normalize(torch.randn(100_000, gallery.shape[1],
                                                                    generator=torch.Generator().manual_seed(0)), dim=1))):
        query = torch.randn(1, embeddings.shape[1], generator=torch.Generator().manual_seed(1))
        unit = normalize(embeddings, dim=1)  # once, when the gallery is embedded

        def lecture():
            return cosine_similarity(query, embeddings).topk(5)

        def matmul():
            return (unit @ normalize(query, dim=1).T).squeeze(1).topk(5)

        with torch.inference_mode():
            a, b = lecture(), matmul()
            same = torch.equal(a.indices, b.indices) and torch.allclose(a.values, b.values, atol=1e-5)
            times = {"cosine_similarity_topk_s": [], "normalised_matmul_topk_s": []}
            for _ in range(3):
                times["cosine_similarity_topk_s"].append(_per_call(lecture, 0.5))
                times["normalised_matmul_topk_s"].append(_per_call(matmul, 0.5))
        row = {k: min(v) for k, v in times.items()}
        row.update(shape=list(embeddings.shape), same_top5=bool(same),
                   matmul_speed_up=round(row["cosine_similarity_topk_s"] / row["normalised_matmul_topk_s"], 2))
        result[label] = row
    bandwidth = copy_bandwidth()
    big = result["random_100k"]
    scanned = 100_000 * gallery.shape[1] * 4
    bound = scanned / (bandwidth * 1e9)
    big.update(bytes_scanned=scanned, copy_bandwidth_gb_s=round(bandwidth, 2), bandwidth_bound_s=bound,
               matmul_vs_bound=round(big["normalised_matmul_topk_s"] / bound, 2),
               cosine_vs_bound=round(big["cosine_similarity_topk_s"] / bound, 2))
    for label, row in result.items():
        say(f"Top-5 over {row['shape'][0]} x {row['shape'][1]}: cosine_similarity+topk "
            f"{1e3 * row['cosine_similarity_topk_s']:.3f} ms, normalised matmul+topk {1e3 * row['normalised_matmul_topk_s']:.3f} ms "
            f"({row['matmul_speed_up']}x), same Top-5: {row['same_top5']}")
    say(f"  100k: {scanned / 1e6:.0f} MB to read at the measured copy bandwidth {bandwidth:.1f} GB/s = "
        f"{1e3 * bound:.1f} ms bound; matmul {big['matmul_vs_bound']}x the bound, cosine_similarity {big['cosine_vs_bound']}x")
    return result


# ---- 2. grading overhead and parallel speed-up ---------------------------------------------------------
def plain_run(path, env, threads, repeats=2):
    """The solution run by nbclient as a student would (no nbgrader, no sandbox), median seconds."""
    from .common import run_notebook

    return statistics.median(run_notebook(path, dict(env, CLIP_COURSE_GRADING="1", OMP_NUM_THREADS=str(threads),
                                                     MKL_NUM_THREADS=str(threads)))["seconds"]
                             for _ in range(repeats))


def grading(folder, env, copies, key):
    import nbformat

    from autograder.bench import environ
    from autograder.course import Course, Settings, threads_per_kernel
    from autograder.grade import grade_class
    from autograder.samples import course_copy

    work = OUT / f"grading-{key}"
    if work.exists():
        shutil.rmtree(work)
    course = Course(course_copy(ROOT, work / "course"))
    solution = nbformat.read(course.source / "quiz_search" / "quiz_search.ipynb", as_version=4)
    for i in range(copies):
        path = work / "class" / f"student-{i + 1:02d}" / "quiz_search" / "quiz_search.ipynb"
        path.parent.mkdir(parents=True)
        nbformat.write(solution, path)
    with environ(env):
        cores = os.cpu_count() or 1
        quiet = lambda line: None  # noqa: E731
        warm = work / "warm" / "student-00" / "quiz_search"
        warm.mkdir(parents=True)
        nbformat.write(solution, warm / "quiz_search.ipynb")
        setup_s, _ = _timed(grade_class, warm.parent.parent, course.root, None, Settings(jobs=1, force=True), quiet)
        references = course.out / ".references"
        plain = plain_run(course.source / "quiz_search" / "quiz_search.ipynb",
                          dict(env, CLIP_COURSE_CACHE=str(references)), threads_per_kernel(1))
        runs, outcome = {}, {}
        for jobs in (1, cores):
            seconds, run = _timed(grade_class, work / "class", course.root, None, Settings(jobs=jobs, force=True), quiet)
            runs[jobs] = (seconds, {r["student"]: (r["status"], [(g["grade_id"], g["auto_score"], g["max_score"])
                                                                  for g in r["grades"] if g.get("max_score")])
                                    for r in run.results}, run.results, run.seconds.get("set_up", 0.0))
            outcome[f"jobs_{jobs}"] = {r["student"]: [r["status"], sum(g["auto_score"] or 0 for g in r["grades"]),
                                                      r.get("reason", "")[:200]] for r in run.results}
    sequential, grades_1, results, set_up = runs[1]
    parallel, grades_n, _, _ = runs[cores]
    per_sub = sequential / copies
    beyond = (sequential - set_up) / copies  # the class's one-off set-up left out (what a class of 300 hardly notices)
    inside = [r.get("timing") or {} for r in results]
    boxed = statistics.mean(t.get("notebook") or 0 for t in inside)
    result = {
        "assignment": "quiz_search", "copies": copies, "cores": cores,
        "first_class_setup_s": round(setup_s, 1),
        "plain_notebook_s": round(plain, 2), "sequential_per_submission_s": round(per_sub, 2),
        "overhead_per_submission_s": round(per_sub - plain, 2),
        "overhead_share": round((per_sub - plain) / plain, 3),
        "class_set_up_s": round(set_up, 2),
        "overhead_per_submission_beyond_set_up_s": round(beyond - plain, 2),
        "overhead_share_beyond_set_up": round((beyond - plain) / plain, 3),
        "boxed_notebook_s": round(boxed, 2),
        "parallel_jobs": cores, "parallel_per_submission_s": round(parallel / copies, 2),
        "speed_up": round(sequential / parallel, 2),
        "identical_grades": grades_1 == grades_n, "outcomes": outcome,
        "all_full_marks": all(st == "graded" and all(s == m for _, s, m in g) for st, g in grades_1.values()),
    }
    say(f"grading {copies} copies of the quiz_search solution: notebook's own run {plain:.1f} s; sequential "
        f"{per_sub:.1f} s per submission, i.e. {result['overhead_per_submission_s']:.1f} s "
        f"({100 * result['overhead_share']:.0f}%) grading overhead; without the class's one-off set-up ({set_up:.1f} s): "
        f"{result['overhead_per_submission_beyond_set_up_s']:.1f} s ({100 * result['overhead_share_beyond_set_up']:.0f}%); "
        f"--jobs {cores}: {parallel / copies:.1f} s per "
        f"submission, speed-up {result['speed_up']}x; identical grades: {result['identical_grades']}")
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="standin", help="standin (default), course, or a model folder")
    parser.add_argument("--part", nargs="*", default=["embed", "topk", "grading"], choices=["embed", "topk", "grading"])
    parser.add_argument("--repeats", type=int, default=1, help="side-by-side passes over the 200 images (the fastest counts)")
    parser.add_argument("--copies", type=int, default=4, help="quiz_search copies graded for part grading (default 4)")
    parser.add_argument("--out", help="JSON file (default build/real-size/ratios-<model>.json)")
    args = parser.parse_args(argv)
    key = args.model if args.model in ("standin", "course") else Path(args.model).name
    folder = model_folder(args.model)
    os.environ.update(OFFLINE)
    record = {"model": model_facts(folder), "machine": machine()}
    out = Path(args.out) if args.out else OUT / f"ratios-{key}.json"
    say(f"ratios with {folder}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    gallery = None
    if "embed" in args.part or "topk" in args.part:
        record["embed"], gallery = embed(folder, args.repeats)
        write_json(out, record)
    if "topk" in args.part:
        record["topk"] = topk(gallery)
        write_json(out, record)
    if "grading" in args.part:
        env = dict(OFFLINE, CLIP_MODEL=folder)
        record["grading"] = grading(folder, env, args.copies, key)
    record["machine"]["load_average_at_end"] = round(os.getloadavg()[0], 2)
    say(f"written to {write_json(out, record)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
