"""Start and stop the hub (`make hub`, `make hub-stop`) and remove what `make hub` made (`make hub-remove`)."""
import json
import os
import pwd
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from . import settings as S
from .prepare import SetupError, created_users, run


def hub_state():
    path = S.STATE / "hub.json"
    if not path.is_file():
        raise SetupError(f"no hub is set up under {S.PREFIX}: run `make hub` first")
    return json.loads(path.read_text())


def base_url(state=None):
    state = state or hub_state()
    scheme = "https" if state["ssl_cert"] else "http"
    host = "127.0.0.1" if state["ip"] in ("0.0.0.0", "") else state["ip"]
    return f"{scheme}://{host}:{state['port']}"


def read_pid(name):
    try:
        pid = int((S.STATE / name).read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def start(log=print, timeout=120):
    """JupyterHub (which starts the proxy) in the background, its log in <prefix>/state/jupyterhub.log."""
    state = hub_state()
    running_with = S.STATE / "hub.running.json"   # the state the running hub was started with
    if read_pid("jupyterhub.pid"):
        changed = not running_with.is_file() or json.loads(running_with.read_text()) != state
        log(f"hub: already running (pid {read_pid('jupyterhub.pid')})"
            + ("; the roster or options changed: `make hub-stop && make hub` applies them" if changed else ""))
        return
    running_with.write_text(json.dumps(state))
    logfile = open(S.STATE / "jupyterhub.log", "ab")
    env = {"PATH": f"{S.VENV}/bin:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/root",
           "CLIP_HUB_STATE": str(S.STATE)}
    process = subprocess.Popen([S.VENV / "bin" / "jupyterhub", "-f", S.HUB_DIR / "jupyterhub_config.py"],
                               cwd=S.STATE, env=env, stdout=logfile, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    (S.STATE / "jupyterhub.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SetupError(f"JupyterHub stopped at start; see {S.STATE / 'jupyterhub.log'}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{state['port'] + 1}/hub/api", timeout=2).read()
            log(f"hub: running at {base_url(state)}/ (pid {process.pid}); log {S.STATE / 'jupyterhub.log'}")
            return
        except OSError:
            time.sleep(0.5)
    raise SetupError(f"JupyterHub did not answer within {timeout} s; see {S.STATE / 'jupyterhub.log'}")


def _wait_gone(pid, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            return True
        time.sleep(0.2)
    return False


def processes_of(users):
    """Pids of processes owned by these (hub-made) users."""
    uids = {pwd.getpwnam(u).pw_uid for u in users if _exists(u)}
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid in uids:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _exists(user):
    try:
        pwd.getpwnam(user)
        return True
    except KeyError:
        return False


def stop(log=print):
    """The hub (which stops the user servers and the proxy), then anything of those left behind."""
    stopped = []
    for name in ("jupyterhub.pid", "proxy.pid"):
        pid = read_pid(name)
        if pid:
            os.kill(pid, signal.SIGTERM)
            if not _wait_gone(pid, 30):
                os.kill(pid, signal.SIGKILL)
                _wait_gone(pid, 5)
            stopped.append(f"{name.split('.')[0]} {pid}")
        (S.STATE / name).unlink(missing_ok=True)
    leftovers = processes_of(created_users()) if S.STATE.is_dir() else []
    for pid in leftovers:  # user servers and kernels of the hub's own users only
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    log(f"hub: stopped ({', '.join(stopped) or 'nothing was running'}"
        + (f"; {len(leftovers)} user processes ended" if leftovers else "") + ")")


def remove(log=print):
    """Stop, then delete the users `make hub` created (with their homes and mail) and the prefix."""
    stop(log)
    users = created_users() if S.STATE.is_dir() else []
    for user in users:
        if _exists(user):
            run(["userdel", "--remove", user], stderr=subprocess.DEVNULL, check=False)
            if _exists(user):
                raise SetupError(f"could not remove user {user}")
    shutil.rmtree(S.PREFIX, ignore_errors=True)
    log(f"hub: removed {len(users)} users and {S.PREFIX}")
