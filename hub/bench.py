"""`make bench-hub`: N simulated students at once on the running hub (a bench, not a test).

Each student is a throw-away Unix user (``clipbenchNN``, removed at the end): they log in through the
hub's login form (PAM) at the same moment, which spawns their servers; then each fetches quiz 1,
runs it in a kernel as their own user, and submits. It reports the time until every server answered,
the 95th-percentile fetch and submit latency, the memory of a user server and of a kernel (resident,
peak per process), and how many students this machine's memory holds. Writes build/bench-hub.json.
"""
import concurrent.futures as futures
import http.cookiejar
import json
import os
import pwd
import re
import secrets
import statistics
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from . import settings as S
from .classroom import Hub, Student, answered, release
from .control import processes_of
from .prepare import created_users, run

ASSIGNMENT = "quiz_cosine"
# Kernels run at once are capped by the memory this machine has free at that moment: 30 torch kernels at
# once (about 0.5 GB each) pushed a shared 24 GB machine into the OOM killer, which killed someone else's
# process. KERNEL_MB is a kernel's measured peak with margin; RESERVE_MB stays free for everything else.
KERNEL_MB = 700
RESERVE_MB = 4096


def login(url, user, password):
    """The login form as a browser posts it; following the redirect starts the user's server."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{url}/hub/login", timeout=120).read().decode()
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"username": user, "password": password, "_xsrf": xsrf}).encode()
    opener.open(urllib.request.Request(f"{url}/hub/login?next=", data=body), timeout=300).read()
    if not any(c.name.startswith("jupyterhub-session") or c.name == "jupyterhub-hub-login" for c in jar):
        raise RuntimeError(f"{user} could not log in")


def memory_sampler(uids, stop, peaks):
    """Peak resident memory (MB) per process of these users, with what it is (server or kernel)."""
    while not stop.is_set():
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if entry.stat().st_uid not in uids:
                    continue
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                rss = int(re.search(r"VmRSS:\s+(\d+)", (entry / "status").read_text()).group(1)) / 1024
            except (OSError, AttributeError):
                continue
            kind = "server" if "jupyterhub-singleuser" in cmd else "kernel" if "ipykernel" in cmd else None
            if kind:
                key = (kind, entry.name)
                peaks[key] = max(peaks.get(key, 0), rss)
        time.sleep(0.5)


def p95(values):
    return sorted(values)[max(0, int(round(0.95 * len(values))) - 1)] if values else None


def main(count=30, log=print):
    hub = Hub()
    users = [f"clipbench{n:02d}" for n in range(1, count + 1)]
    passwords = {u: secrets.token_urlsafe(9) for u in users}
    created = created_users()
    for user in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            run(["useradd", "--create-home", "--shell", "/bin/bash", "--user-group", user])
            created.append(user)
            (S.STATE / "created-users.json").write_text(json.dumps(created))
        os.chmod(pwd.getpwnam(user).pw_dir, S.HOME_MODE)
        run(["chpasswd"], input=f"{user}:{passwords[user]}\n", text=True)
    for user in users:
        try:
            hub.request("POST", f"/hub/api/users/{user}")
        except RuntimeError as error:
            if "HTTP 409" not in str(error):  # 409: already known
                raise
    release(ASSIGNMENT)
    uids = {pwd.getpwnam(u).pw_uid for u in users}
    available_before = meminfo("MemAvailable")
    stop, peaks = threading.Event(), {}
    sampler = threading.Thread(target=memory_sampler, args=(uids, stop, peaks), daemon=True)
    sampler.start()
    result = {"students": count, "cores": os.cpu_count(), "mem_total_mb": meminfo("MemTotal"),
              "load_before": os.getloadavg()[0]}
    try:
        started = time.monotonic()
        with futures.ThreadPoolExecutor(count) as pool:
            list(pool.map(lambda u: login(hub.url, u, passwords[u]), users))
            result["all_logged_in_s"] = time.monotonic() - started
            list(pool.map(lambda u: hub.start_server(u, timeout=600), users))
            result["all_spawned_s"] = time.monotonic() - started
            log(f"bench: {count} logged in after {result['all_logged_in_s']:.1f} s, "
                f"all servers up after {result['all_spawned_s']:.1f} s")
            at_once = max(1, min(count, int((meminfo("MemAvailable") - RESERVE_MB) // KERNEL_MB)))
            result["kernels_at_once"] = at_once
            gate = threading.Semaphore(at_once)
            log(f"bench: running quiz 1 in at most {at_once} kernels at once (free memory)")
            result.update(summarise(list(pool.map(lambda u: one_student(hub, u, gate), users))))
    finally:
        stop.set()
        sampler.join()
        cleanup(hub, users)
    servers = [mb for (kind, _), mb in peaks.items() if kind == "server"]
    kernels = [mb for (kind, _), mb in peaks.items() if kind == "kernel"]
    result["server_rss_mb"] = {"median": statistics.median(servers), "max": max(servers)} if servers else None
    result["kernel_rss_mb"] = {"median": statistics.median(kernels), "max": max(kernels)} if kernels else None
    if servers and kernels:
        per_student = statistics.median(servers) + statistics.median(kernels)
        result["per_student_mb"] = per_student
        # what this machine holds: with the memory free when the bench began (others' work included), and
        # with all of it but 2 GB for the system and the hub (the machine doing nothing else)
        result["mem_available_before_mb"] = available_before
        result["students_free_memory_holds"] = int((available_before - 1024) // per_student)
        result["students_whole_machine_holds"] = int((result["mem_total_mb"] - 2048) // per_student)
    result["load_after"] = os.getloadavg()[0]
    out = S.REPO / "build" / "bench-hub.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    for key, value in result.items():
        log(f"  {key}: {value}")
    log(f"bench: written to {out}")
    return result


def one_student(hub, user, gate):
    token = hub.user_token(user)
    student = Student(hub, user, token)
    timings = {}
    t = time.monotonic()
    student.action("fetch", ASSIGNMENT)
    timings["fetch"] = time.monotonic() - t
    path = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    student.save_notebook(path, answered(student.read(path), ASSIGNMENT, ASSIGNMENT, "solution"))
    home = pwd.getpwnam(user).pw_dir
    with gate:
        t = time.monotonic()
        done = subprocess.run(["runuser", "-u", user, "--", "env", "-i", f"HOME={home}", f"PATH={S.VENV}/bin:/usr/bin:/bin",
                           "LANG=C.UTF-8", "HF_HUB_OFFLINE=1", "jupyter", "nbconvert", "--to", "notebook",
                           "--execute", "--inplace", path], cwd=home, capture_output=True, text=True)
        timings["run"] = time.monotonic() - t
    timings["run_ok"] = done.returncode == 0
    t = time.monotonic()
    student.action("submit", ASSIGNMENT)
    timings["submit"] = time.monotonic() - t
    return timings


def summarise(rows):
    return {"fetch_p95_s": p95([r["fetch"] for r in rows]), "submit_p95_s": p95([r["submit"] for r in rows]),
            "fetch_median_s": statistics.median(r["fetch"] for r in rows),
            "submit_median_s": statistics.median(r["submit"] for r in rows),
            "run_median_s": statistics.median(r["run"] for r in rows), "run_max_s": max(r["run"] for r in rows),
            "runs_ok": sum(r["run_ok"] for r in rows)}


def cleanup(hub, users):
    for user in users:
        try:
            hub.request("DELETE", f"/hub/api/users/{user}/server")
        except RuntimeError:
            pass
    time.sleep(2)
    for pid in processes_of(users):
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    created = created_users()
    for user in users:
        try:
            hub.request("DELETE", f"/hub/api/users/{user}")
        except RuntimeError:
            pass
        run(["userdel", "--remove", user], check=False, stderr=subprocess.DEVNULL)
        if user in created:
            created.remove(user)
    (S.STATE / "created-users.json").write_text(json.dumps(created))


def meminfo(key):
    text = Path("/proc/meminfo").read_text()
    return int(re.search(rf"^{key}:\s+(\d+)", text, re.M).group(1)) / 1024
