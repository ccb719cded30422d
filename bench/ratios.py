"""Ratios measured side by side in one run (``make bench-real``): what a user would compare.

    python -m bench.ratios [--model standin|course|FOLDER] [--part embed topk grading] [--copies 4]

1. ``embed``: the 200 gallery images embedded the lecture's way (notebook 03: the processor on a list
   of 32 PIL images at a time, then ``get_image_features`` under ``torch.no_grad``) against the fastest
   raw batched call of the same model (pixel values prepared once, the best batch size,
   ``torch.inference_mode``, threads set), and where the difference goes: decoding the PNGs, the image
   processor, the model. The two are timed one after the other, ``--repeats`` times each (medians).
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

from .common import OFFLINE, OUT, ROOT, machine, model_facts, model_folder, say, write_json

BATCH_SIZES = (8, 16, 32, 64)


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
def embed(folder, repeats):
    import torch
    from PIL import Image
    from transformers import CLIPModel, CLIPProcessor
    from transformers.utils import is_torchvision_available

    from clipcourse import data

    threads = os.cpu_count() or 1
    torch.set_num_threads(threads)
    model = CLIPModel.from_pretrained(folder).eval()
    processor = CLIPProcessor.from_pretrained(folder)
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

    def lecture():  # notebook 03's cell, as written
        batch_size, batch_embeddings = 32, []
        with torch.no_grad():
            for start in range(0, len(images), batch_size):
                batch = images[start:start + batch_size]
                batch_inputs = processor(images=batch, return_tensors="pt", padding=True)
                batch_embeddings.append(model.get_image_features(**batch_inputs))
        return torch.cat(batch_embeddings)

    def preprocess():
        return processor(images=images, return_tensors="pt")["pixel_values"]

    def raw(pixels, batch_size):
        with torch.inference_mode():
            return torch.cat([model.get_image_features(pixel_values=pixels[s:s + batch_size])
                              for s in range(0, len(pixels), batch_size)])

    with torch.no_grad():  # warm-up: the first calls allocate
        model.get_image_features(**processor(images=images[:8], return_tensors="pt"))
    # The best batch size, chosen on the first 64 images (one pass each: a whole sweep at 224 px would
    # take long on a laptop); then the lecture's way, the raw call and the processor alone on all 200,
    # alternately, so that the machine's load hits them alike.
    subset = processor(images=images[:64], return_tensors="pt")["pixel_values"]
    by_batch = {size: round(_timed(raw, subset, size)[0] * len(images) / len(subset), 3) for size in BATCH_SIZES}
    best = min(by_batch, key=by_batch.get)
    times = {"lecture": [], "processor": [], "raw": []}
    for _ in range(repeats):
        *lecture_t, lecture_embeddings = _timed2(lecture)
        *processor_t, pixels = _timed2(preprocess)
        *raw_t, raw_embeddings = _timed2(raw, pixels, best)
        for name, t in (("lecture", lecture_t), ("processor", processor_t), ("raw", raw_t)):
            times[name].append(t)
    # The fastest of the repeats (as timeit does): other processes only ever add time.
    (lecture_s, lecture_cpu), (processor_s, processor_cpu), (raw_s, raw_cpu) = (
        (min(w for w, _ in times[n]), min(c for _, c in times[n])) for n in ("lecture", "processor", "raw"))
    same = torch.allclose(lecture_embeddings, raw_embeddings, atol=1e-4)
    per_image_ms = lambda s: round(1000 * s / len(images), 2)  # noqa: E731
    result = {
        "images": len(images), "threads": threads, "repeats": repeats,
        "image_processor": type(processor.image_processor).__name__,
        "fast_image_processor_available": bool(is_torchvision_available()),
        "decode_png_s": round(decode_s, 3), "load_images_s": round(load_images_s, 3),
        "processor_s": round(processor_s, 3), "raw_by_batch_size_s": by_batch,
        "batch_sweep": "one pass over the first 64 images, scaled to 200", "best_batch_size": best,
        "lecture_s": round(lecture_s, 3), "raw_s": round(raw_s, 3),
        "lecture_images_per_s": round(len(images) / lecture_s, 1), "raw_images_per_s": round(len(images) / raw_s, 1),
        "lecture_vs_raw_throughput": round(raw_s / lecture_s, 3),
        "cpu_s": {"lecture": round(lecture_cpu, 2), "processor": round(processor_cpu, 2), "raw": round(raw_cpu, 2)},
        "lecture_vs_raw_cpu_time": round(raw_cpu / lecture_cpu, 3),
        "processor_share_of_lecture_cpu": round(processor_cpu / lecture_cpu, 3),
        "processor_share_of_lecture": round(processor_s / lecture_s, 3),
        "lecture_without_processor_vs_raw": round(raw_s / max(1e-9, lecture_s - processor_s), 3),
        "per_image_ms": {"decode_png": per_image_ms(decode_s), "processor": per_image_ms(processor_s),
                         "model_raw": per_image_ms(raw_s), "lecture": per_image_ms(lecture_s)},
        "same_embeddings": bool(same),
    }
    say(f"embedding {len(images)} images, {threads} threads, {result['image_processor']} "
        f"(fast processor {'available' if result['fast_image_processor_available'] else 'unavailable: no torchvision'}):")
    say(f"  lecture's way (processor + model per batch of 32, no_grad): {lecture_s:.2f} s "
        f"({result['lecture_images_per_s']} images/s)")
    say(f"  raw (pixels prepared once, batch {best}, inference_mode):    {raw_s:.2f} s "
        f"({result['raw_images_per_s']} images/s); by batch size: {by_batch}")
    say(f"  lecture / raw throughput = {result['lecture_vs_raw_throughput']:.2f}x; the processor alone takes "
        f"{processor_s:.2f} s = {100 * result['processor_share_of_lecture']:.0f}% of the lecture's time; without it the "
        f"lecture's loop runs at {result['lecture_without_processor_vs_raw']:.2f}x raw")
    say(f"  in CPU time (steadier on a shared machine): lecture {lecture_cpu:.1f} s, processor {processor_cpu:.1f} s, "
        f"raw {raw_cpu:.1f} s: lecture / raw = {result['lecture_vs_raw_cpu_time']:.2f}x, the processor "
        f"{100 * result['processor_share_of_lecture_cpu']:.0f}% of the lecture's CPU time")
    say(f"  decoding the 200 PNGs (PIL, before either): {decode_s:.2f} s; load_images with the manifest check: "
        f"{load_images_s:.2f} s; same embeddings: {same}")
    return result, raw_embeddings


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
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
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
                                    for r in run.results}, run.results)
            outcome[f"jobs_{jobs}"] = {r["student"]: [r["status"], sum(g["auto_score"] or 0 for g in r["grades"]),
                                                      r.get("reason", "")[:200]] for r in run.results}
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    sequential, grades_1, results = runs[1]
    parallel, grades_n, _ = runs[cores]
    per_sub = sequential / copies
    inside = [r.get("timing") or {} for r in results]
    boxed = statistics.mean(t.get("notebook") or 0 for t in inside)
    result = {
        "assignment": "quiz_search", "copies": copies, "cores": cores,
        "first_class_setup_s": round(setup_s, 1),
        "plain_notebook_s": round(plain, 2), "sequential_per_submission_s": round(per_sub, 2),
        "overhead_per_submission_s": round(per_sub - plain, 2),
        "overhead_share": round((per_sub - plain) / plain, 3),
        "boxed_notebook_s": round(boxed, 2),
        "parallel_jobs": cores, "parallel_per_submission_s": round(parallel / copies, 2),
        "speed_up": round(sequential / parallel, 2),
        "identical_grades": grades_1 == grades_n, "outcomes": outcome,
        "all_full_marks": all(st == "graded" and all(s == m for _, s, m in g) for st, g in grades_1.values()),
    }
    say(f"grading {copies} copies of the quiz_search solution: notebook's own run {plain:.1f} s; sequential "
        f"{per_sub:.1f} s per submission, i.e. {result['overhead_per_submission_s']:.1f} s "
        f"({100 * result['overhead_share']:.0f}%) grading overhead; --jobs {cores}: {parallel / copies:.1f} s per "
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
