"""The class hub's JupyterHub configuration (hub/README.md). `make hub` writes the per-install values
into <prefix>/state/hub.json (root only) and starts JupyterHub with this file."""
import json
import os

state_dir = os.environ["CLIP_HUB_STATE"]
with open(os.path.join(state_dir, "hub.json")) as fh:
    hub = json.load(fh)
with open(os.path.join(state_dir, "service-token")) as fh:
    service_token = fh.read().strip()

c = get_config()  # noqa: F821

# Where it listens: loopback unless `make hub HUB_IP=... HUB_SSL_CERT=... HUB_SSL_KEY=...` (then TLS only).
c.JupyterHub.ip = hub["ip"]
c.JupyterHub.port = hub["port"]
if hub["ssl_cert"]:
    c.JupyterHub.ssl_cert = hub["ssl_cert"]
    c.JupyterHub.ssl_key = hub["ssl_key"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = hub["port"] + 1
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{hub['port'] + 2}"
c.ConfigurableHTTPProxy.command = [hub["proxy"]]
c.ConfigurableHTTPProxy.pid_file = os.path.join(state_dir, "proxy.pid")

# The hub's own files: root only.
c.JupyterHub.db_url = "sqlite:///" + os.path.join(state_dir, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(state_dir, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(state_dir, "jupyterhub.pid")

# Login: the roster's Unix users with their passwords (PAM); the instructor is the hub's admin.
c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(hub["students"]) | {hub["instructor"]}
c.Authenticator.admin_users = {hub["instructor"]}

# One server per Unix user, run as that user, from the hub's venv (Python every user can run).
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [os.path.join(hub["venv"], "bin", "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120
c.Spawner.environment = {
    "PATH": f"{hub['venv']}/bin:/usr/local/bin:/usr/bin:/bin",
    "HF_HUB_DISABLE_TELEMETRY": "1", "TOKENIZERS_PARALLELISM": "false",
}
c.JupyterHub.cleanup_servers = True   # stopping the hub stops every user's server (make hub-stop)

# `make hub-demo`, `make hub-grade` and the tests drive the hub through its API with this service.
c.JupyterHub.services = [{"name": "clip-hub-admin", "api_token": service_token}]
c.JupyterHub.load_roles = [{
    "name": "clip-hub-admin",
    "scopes": ["admin:users", "admin:servers", "tokens", "access:servers", "list:users", "read:users"],
    "services": ["clip-hub-admin"],
}]
