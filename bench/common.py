"""What the rehearsal and the benchmark share: which model, the machine, running a notebook with its
kernel's peak memory, JSON output."""
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "build" / "real-size"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

#: Appended to a notebook (or a submission) as its last cell: the kernel's own peak memory. VmPeak is
#: the peak address space (what the grader's --memory-mb caps), VmHWM the peak resident set; the
#: children's figure is the largest finished child (the hidden tests' text-embedding process).
MEASURE_CELL = r'''import json as _json, resource as _resource
_memory = {}
for _line in open("/proc/self/status"):
    if _line.startswith(("VmPeak:", "VmHWM:")):
        _memory[_line.split(":")[0]] = int(_line.split()[1]) // 1024
_memory["children_maxrss"] = _resource.getrusage(_resource.RUSAGE_CHILDREN).ru_maxrss // 1024
_memory["cpu_s"] = round(sum(getattr(_resource.getrusage(_who), _f) for _who in (_resource.RUSAGE_SELF, _resource.RUSAGE_CHILDREN)
                             for _f in ("ru_utime", "ru_stime")), 1)
print("KERNEL-MEMORY-MB " + _json.dumps(_memory))'''
MEASURE_TAG = "KERNEL-MEMORY-MB "


def model_folder(key):
    """``standin`` (written if missing), ``course`` (model/course-clip) or a model folder."""
    if key == "standin":
        from clipcourse import standin

        return str(standin.write(log=lambda line: print(line, flush=True)))
    if key == "course":
        from clipcourse.paths import OFFLINE_MODEL_DIR

        return str(OFFLINE_MODEL_DIR)
    path = Path(key).expanduser()
    if not (path / "config.json").is_file():
        sys.exit(f"--model {key!r}: say 'standin', 'course' or a folder written by save_pretrained")
    return str(path.resolve())


def model_facts(folder):
    from transformers import CLIPConfig

    config = CLIPConfig.from_pretrained(folder)
    weights = Path(folder) / "model.safetensors"
    return {"folder": folder, "image_size": config.vision_config.image_size,
            "patch_size": config.vision_config.patch_size, "vision_width": config.vision_config.hidden_size,
            "vision_layers": config.vision_config.num_hidden_layers, "text_width": config.text_config.hidden_size,
            "projection_dim": config.projection_dim,
            "weights_mb": round(weights.stat().st_size / 2**20) if weights.is_file() else None}


def machine():
    """What the figures were measured on (they are only comparable side by side, on one machine)."""
    import torch
    import transformers

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor())
    ram = next((int(line.split()[1]) // 1024 for line in open("/proc/meminfo") if line.startswith("MemTotal")), None)
    return {"date": datetime.date.today().isoformat(), "cpu": cpu, "cores": os.cpu_count(), "ram_mb": ram,
            "python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "torch_threads": torch.get_num_threads(), "load_average_at_start": round(os.getloadavg()[0], 2)}


def kernel_memory(nb):
    """The figures MEASURE_CELL printed in an executed notebook, or {}."""
    for cell in reversed(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            if MEASURE_TAG in text:
                return json.loads(text.split(MEASURE_TAG, 1)[1].splitlines()[0])
    return {}


def with_measure_cell(nb):
    nb = nbformat.from_dict(nb)
    nb.cells.append(nbformat.v4.new_code_cell(MEASURE_CELL))
    return nb


def run_notebook(path, env_extra, timeout=1800):
    """Execute a notebook (not written anywhere) in its own folder with this Python's kernel, going on
    after a failing cell; returns seconds, the kernel's peak address space and RSS, and the cells that
    raised (nbgrader's grade_id, else the cell's number, with the error)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    path = Path(path)
    nb = with_measure_cell(nbformat.read(path, as_version=4))
    km = KernelManager(kernel_name="python3", kernel_spec_manager=KernelSpecManager(kernel_dirs=[]))
    client = NotebookClient(nb, km=km, timeout=timeout, kernel_name="python3", allow_errors=True,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    started = time.monotonic()
    try:
        client.execute(env=dict(os.environ, **env_extra))
    finally:  # a client given its own manager leaves the kernel running
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    seconds = time.monotonic() - started
    errors = []
    for number, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                name = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {number}"
                errors.append(f"{name}: {out.get('ename')}: {str(out.get('evalue'))[:160]}")
    memory = kernel_memory(nb)
    return {"seconds": round(seconds, 1), "address_space_peak_mb": memory.get("VmPeak"),
            "rss_peak_mb": memory.get("VmHWM"), "child_rss_peak_mb": memory.get("children_maxrss"),
            "kernel_cpu_s": memory.get("cpu_s"), "errors": errors}


def write_json(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def say(text):
    print(text, flush=True)
