"""Test-wide rules: no network, and the course's offline CLIP unless a test says otherwise."""
import ipaddress
import os
import socket

import pytest

from clipcourse.paths import OFFLINE_MODEL_DIR

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["CLIP_MODEL"] = str(OFFLINE_MODEL_DIR)
# notebook 05 times exact search up to this many vectors in the tests (a million, 2 GB, only in `make render`)
os.environ.setdefault("CLIPCOURSE_SCALE_MAX", "20000")

_real_connect = socket.socket.connect


def _loopback_only(sock, address):
    """Refuse every connection that leaves the machine; Jupyter kernels talk over loopback and unix sockets."""
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            local = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            local = False
        if not local:
            raise OSError(f"tests must not use the network (tried to connect to {address})")
    return _real_connect(sock, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
