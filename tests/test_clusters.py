"""clusters/: launcher YAMLs valid for Ray's own schema, KubeRay manifests that run paretoray.

The launcher files are checked against ``ray/autoscaler/ray-schema.json`` from the
installed ray package (what ``ray up`` validates with); the KubeRay manifests are parsed
and their search config is read by paretoray's own :class:`SearchConfig`.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess

import pytest
import yaml

import paretoray as pr

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLUSTERS = os.path.join(ROOT, "clusters")
LAUNCHER = ["aws.yaml", "gcp.yaml"]


@pytest.fixture(scope="module")
def schema():
    ray = pytest.importorskip("ray.autoscaler")
    with open(os.path.join(os.path.dirname(ray.__file__), "ray-schema.json")) as fh:
        return json.load(fh)


def _load(name: str):
    with open(os.path.join(CLUSTERS, name)) as fh:
        return list(yaml.safe_load_all(fh))


@pytest.mark.parametrize("name", LAUNCHER)
def test_launcher_yaml_validates_against_rays_schema(name, schema):
    jsonschema = pytest.importorskip("jsonschema")
    (config,) = _load(name)
    jsonschema.validate(config, schema)
    # the schema is strict enough to catch a misspelt key (so the check above can fail)
    broken = json.loads(json.dumps(config))
    broken["available_node_types"]["head"]["min_wrkers"] = 0
    with pytest.raises(jsonschema.ValidationError, match="min_wrkers"):
        jsonschema.validate(broken, schema)


@pytest.mark.parametrize("name", LAUNCHER)
def test_launcher_yaml_has_cpu_and_gpu_groups_token_auth_and_installs_paretoray(name):
    (config,) = _load(name)
    groups = config["available_node_types"]
    assert config["head_node_type"] in groups
    gpus = {k: v["resources"].get("GPU", 0) for k, v in groups.items()}
    assert any(g >= 1 for g in gpus.values()), gpus
    assert any(g == 0 for k, g in gpus.items() if k != config["head_node_type"]), gpus
    setup = " ".join(config["setup_commands"])
    assert f'"paretoray=={pr.__version__}"' in setup and '"torch>=2.4,<2.14"' in setup
    starts = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    assert all("RAY_AUTH_MODE=token" in c for c in starts)
    assert "--dashboard-host=127.0.0.1" in " ".join(config["head_start_ray_commands"])
    assert any(dst.endswith(".ray/auth_token") for dst in config["file_mounts"])


def _containers(spec):
    head = spec["headGroupSpec"]["template"]["spec"]["containers"]
    workers = [c for g in spec["workerGroupSpecs"] for c in g["template"]["spec"]["containers"]]
    return head, workers


def test_kuberay_raycluster_parses_and_names_the_paretoray_image():
    docs = {d["kind"]: d for d in _load("kuberay/raycluster.yaml")}
    cluster = docs["RayCluster"]
    assert cluster["apiVersion"] == "ray.io/v1"
    head, workers = _containers(cluster["spec"])
    images = {c["image"] for c in head + workers}
    assert images == {f"paretoray:{pr.__version__}"}
    groups = {g["groupName"]: g for g in cluster["spec"]["workerGroupSpecs"]}
    gpu_limits = groups["gpu"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert gpu_limits["nvidia.com/gpu"] == "1"
    for c in head + workers:
        env = {e["name"]: e for e in c["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "paretoray-ray-token"
    claim = head[0]["volumeMounts"][0]["name"]
    assert claim in {v["name"] for v in cluster["spec"]["headGroupSpec"]["template"]["spec"]
                     ["volumes"]}
    assert docs["PersistentVolumeClaim"]["metadata"]["name"] == "paretoray-runs"


def test_kuberay_rayjob_runs_paretoray_on_its_configmap():
    docs = {d["kind"]: d for d in _load("kuberay/rayjob.yaml")}
    job = docs["RayJob"]["spec"]
    argv = shlex.split(job["entrypoint"])
    assert argv[:4] == ["python", "-m", "paretoray", "run"]
    config_path = argv[4]
    head, workers = _containers(job["rayClusterSpec"])
    assert {c["image"] for c in head + workers} == {f"paretoray:{pr.__version__}"}
    # the config file named by the entrypoint is the ConfigMap key mounted on the head
    mounts = {m["mountPath"]: m["name"] for m in head[0]["volumeMounts"]}
    volumes = {v["name"]: v for v in job["rayClusterSpec"]["headGroupSpec"]["template"]
               ["spec"]["volumes"]}
    volume = volumes[mounts[os.path.dirname(config_path)]]
    configmap = docs["ConfigMap"]
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    text = configmap["data"][os.path.basename(config_path)]
    cfg = pr.SearchConfig.from_dict(yaml.safe_load(text))  # paretoray accepts it
    assert cfg.problem == "zdt1" and cfg.workers >= 2
    # ... and writes its run directory into the claim mounted on the head
    run_mount = next(p for p in mounts if cfg.run_dir.startswith(p + "/"))
    assert volumes[mounts[run_mount]]["persistentVolumeClaim"]["claimName"] == "paretoray-runs"


def test_kuberay_dockerfile_builds_on_the_ray_version_of_the_manifests():
    with open(os.path.join(CLUSTERS, "kuberay", "Dockerfile")) as fh:
        base = next(line.split()[1] for line in fh if line.startswith("FROM "))
    versions = {d["spec"].get("rayVersion") or d["spec"]["rayClusterSpec"]["rayVersion"]
                for f in ("kuberay/raycluster.yaml", "kuberay/rayjob.yaml")
                for d in _load(f) if d["kind"] in ("RayCluster", "RayJob")}
    assert versions == {base.split(":")[1].split("-")[0]}, (versions, base)


@pytest.mark.parametrize("script", ["_env.sh", "start-head.sh", "start-worker.sh", "up.sh",
                                    "stop.sh"])
def test_local_scripts_are_valid_bash(script):
    path = os.path.join(CLUSTERS, "local", script)
    done = subprocess.run(["bash", "-n", path], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    if script != "_env.sh":
        assert os.access(path, os.X_OK), f"{path} is not executable"
