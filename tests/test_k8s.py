"""k8s/ (the Zero to JupyterHub guide, k8s/README.md): the files parse, and they name the same versions as
requirements.txt and hub/requirements.txt. Nothing here talks to a cluster: k8s/README.md says what was
not run."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "k8s"


def pins(*files):
    found = {}
    for path in files:
        for line in path.read_text().splitlines():
            match = re.match(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)", line.strip())
            if match:
                found[match.group(1).lower()] = match.group(2)
    return found


def test_values_parse_and_name_the_pinned_versions():
    values = yaml.safe_load((K8S / "values.yaml").read_text())
    pinned = pins(ROOT / "requirements.txt", ROOT / "hub" / "requirements.txt")
    versions = values["custom"]["clipCourse"]["versions"]
    assert versions, "values.yaml names no versions"
    for package, version in versions.items():
        assert pinned.get(package) == str(version), f"values.yaml says {package} {version}, the pins say {pinned.get(package)}"
    for package in ("jupyterhub", "nbgrader", "jupyterlab", "torch", "transformers"):
        assert package in versions, f"values.yaml should name the {package} version"
    # the pieces the guide relies on
    single = values["singleuser"]
    mounts = {m["mountPath"] for m in single["storage"]["extraVolumeMounts"]}
    assert values["custom"]["clipCourse"]["exchangeRoot"] in mounts
    assert values["proxy"]["https"]["enabled"] is True
    assert "uid" in values["hub"]["extraConfig"]["clipCourse"]   # one uid per user, not the chart's shared 1000
    compile(values["hub"]["extraConfig"]["clipCourse"], "values.yaml:hub.extraConfig.clipCourse", "exec")


def test_other_manifests_parse_and_agree():
    documents = list(yaml.safe_load_all((K8S / "exchange.yaml").read_text()))
    kinds = [d["kind"] for d in documents]
    assert kinds == ["PersistentVolumeClaim", "PersistentVolumeClaim", "ConfigMap"]
    assert documents[0]["spec"]["accessModes"] == ["ReadWriteMany"]
    site = documents[2]["data"]["nbgrader_config.py"]
    compile(site, "exchange.yaml:nbgrader_config.py", "exec")
    from traitlets.config.loader import PyFileConfigLoader
    course = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    assert f"c.Execute.timeout = {course.Execute.timeout}" in site
    values = yaml.safe_load((K8S / "values.yaml").read_text())
    assert f'c.Exchange.root = "{values["custom"]["clipCourse"]["exchangeRoot"]}"' in site
    job = yaml.safe_load((K8S / "grade-job.yaml").read_text())
    assert job["kind"] == "Job"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert "python -m autograder grade" in " ".join(container["args"])
    image = values["singleuser"]["image"]
    assert container["image"] == f'{image["name"]}:{image["tag"]}'


def test_image_installs_the_pinned_environment_and_the_course():
    dockerfile = (K8S / "Dockerfile").read_text()
    assert "-r /tmp/course/hub/requirements.txt" in dockerfile
    assert "-r ../requirements.txt" in (ROOT / "hub" / "requirements.txt").read_text()
    for part in ("pyproject.toml", "clipcourse", "autograder", "data", "model/course-clip"):
        assert f"COPY {part} " in dockerfile, part
    assert re.search(r"^FROM python:3\.11", dockerfile, re.M)
