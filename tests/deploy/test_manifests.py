"""The deployment files hold together, checked offline (no Docker, no cluster).

docker-compose and Kubernetes manifests are parsed with PyYAML; the Kubernetes objects are
validated against the OpenAPI schemas bundled with ``kubernetes-validate`` (strict: an
unknown field is an error) for the oldest and newest Kubernetes versions we claim.
Every LIFELINE_ variable they set must be a real setting, and every command they run
must parse with the ``lifeline`` CLI.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from services.cli import build_parser
from shared.events import topics
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SERVICES = ("orders", "inventory", "routing")
PORTS = {"orders": 8001, "inventory": 8002, "routing": 8003}
# Oldest Kubernetes minor we support (HPA autoscaling/v2, PDB policy/v1, Job TTL are GA)
# and the newest whose schemas kubernetes-validate 1.37 bundles.
K8S_VERSIONS = ("1.29", "1.37")
# Every setting, plus LIFELINE_LOG_LEVEL (read by shared.observability.configure_logging).
SETTINGS = {f"LIFELINE_{name.upper()}" for name in Settings.model_fields} | {"LIFELINE_LOG_LEVEL"}


def load_compose() -> dict[str, Any]:
    compose: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return compose


def load_k8s() -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        documents.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return documents


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in load_k8s() if doc["kind"] == kind}


def lifeline_command(argv: list[str]) -> list[list[str]]:
    """The ``lifeline`` invocations in a container command (direct, or inside sh -c)."""
    if argv[:2] in (["/bin/sh", "-c"], ["sh", "-c"]):
        return [shlex.split(part)[1:] for part in re.split(r"&&|;", " ".join(argv[2:]))]
    return [argv[1:] if argv[0] == "lifeline" else argv]


def assert_cli_accepts(argv: list[str]) -> Any:
    return build_parser().parse_args(argv)


# --- docker compose --------------------------------------------------------------------

def test_compose_runs_kafka_in_kraft_mode_and_postgres_with_a_database_per_service() -> None:
    services = load_compose()["services"]
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kafka["environment"]
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert kafka["healthcheck"]["test"]

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert postgres["healthcheck"]["test"]
    mounted = [volume.split(":")[0] for volume in postgres["volumes"]]
    script = DEPLOY / "postgres" / "init-databases.sh"
    assert "./postgres/init-databases.sh" in mounted
    assert "orders inventory routing" in script.read_text()
    subprocess.run(["sh", "-n", str(script)], check=True)  # syntax


@pytest.mark.parametrize("service", SERVICES)
def test_compose_service_has_image_healthcheck_database_and_broker(service: str) -> None:
    spec = load_compose()["services"][service]
    assert spec["image"]
    args = assert_cli_accepts(spec["command"])
    assert (args.command, args.service, args.port) == ("serve", service, PORTS[service])
    assert f"127.0.0.1:{PORTS[service]}/readyz" in " ".join(spec["healthcheck"]["test"])
    env = spec["environment"]
    assert env["LIFELINE_MODE"] == "production"
    assert env["LIFELINE_BROKER_URL"] == "kafka:9092"
    assert env["LIFELINE_KAFKA_ACKS"] == "all"
    assert env["LIFELINE_KAFKA_IDEMPOTENCE"] == "true"
    assert env[f"LIFELINE_{service.upper()}_DATABASE_URL"].startswith(f"postgresql://{service}:")
    assert env[f"LIFELINE_{service.upper()}_DATABASE_URL"].endswith(f"@postgres:5432/{service}")
    assert env["LIFELINE_JWT_SECRET"].startswith("${"), "secrets come from the environment"
    assert spec["depends_on"]["setup"]["condition"] == "service_completed_successfully"


def test_compose_setup_job_creates_topics_then_migrates_every_database() -> None:
    services = load_compose()["services"]
    setup = services["setup"]
    commands = [assert_cli_accepts(argv) for argv in lifeline_command(setup["entrypoint"])]
    assert [c.command for c in commands] == ["topics", "migrate"]
    assert commands[1].service == "all"
    for service in SERVICES:
        assert setup["environment"][f"LIFELINE_{service.upper()}_DATABASE_URL"]
    assert setup["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert setup["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_sets_only_real_settings() -> None:
    for name, spec in load_compose()["services"].items():
        unknown = {key for key in spec.get("environment", {}) if key.startswith("LIFELINE_")} - SETTINGS
        assert not unknown, f"{name}: {unknown}"


# --- Kubernetes ------------------------------------------------------------------------

@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_validate_against_the_api_schemas(version: str) -> None:
    documents = load_k8s()
    assert documents
    for doc in documents:
        kubernetes_validate.validate(doc, version, strict=True)


def test_schema_validation_would_catch_a_mistake() -> None:
    deployment = objects("Deployment")["orders"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def test_kubernetes_has_no_secret_values_only_references() -> None:
    assert not objects("Secret"), "create lifeline-secrets out of band (deploy/README.md)"
    config = objects("ConfigMap")["lifeline-config"]["data"]
    assert config["LIFELINE_MODE"] == "production"
    assert config["LIFELINE_KAFKA_ACKS"] == "all"
    assert config["LIFELINE_KAFKA_IDEMPOTENCE"] == "true"
    assert int(config["LIFELINE_KAFKA_REPLICATION_FACTOR"]) >= 3
    assert config["LIFELINE_BROKER_URL"]
    assert not set(config) - SETTINGS, set(config) - SETTINGS
    assert not any("SECRET" in key or "PASSWORD" in key or "DATABASE_URL" in key for key in config)


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _secret_env(container: dict[str, Any]) -> dict[str, str]:
    return {
        item["name"]: item["valueFrom"]["secretKeyRef"]["key"]
        for item in container.get("env", [])
        if "secretKeyRef" in item.get("valueFrom", {})
    }


@pytest.mark.parametrize("service", SERVICES)
def test_kubernetes_deployment_is_probed_bounded_and_configured(service: str) -> None:
    deployment = objects("Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    container = _container(deployment)
    assert container["image"]
    args = assert_cli_accepts(container["args"])
    assert (args.command, args.service, args.port, args.host) == ("serve", service, PORTS[service], "0.0.0.0")
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    assert {"configMapRef": {"name": "lifeline-config"}} in container["envFrom"]
    secrets = _secret_env(container)
    assert secrets[f"LIFELINE_{service.upper()}_DATABASE_URL"] == f"{service}-database-url"
    assert secrets["LIFELINE_JWT_SECRET"] == "jwt-secret"
    assert not set(secrets) - SETTINGS
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    svc = objects("Service")[service]
    assert svc["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"][0]["port"] == PORTS[service]
    assert svc["spec"]["ports"][0]["targetPort"] in {p["name"] for p in container["ports"]}


def test_autoscalers_target_orders_and_inventory_within_their_partitions() -> None:
    deployments = objects("Deployment")
    hpas = objects("HorizontalPodAutoscaler")
    assert set(hpas) == {"orders", "inventory"}
    for name, hpa in hpas.items():
        target = hpa["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", name)
        assert target["name"] in deployments
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        # Replicas beyond the partitions of the hot topics would idle as consumers.
        assert hpa["spec"]["maxReplicas"] <= topics.ORDERS.partitions
        assert hpa["spec"]["maxReplicas"] <= topics.RESERVATIONS.partitions


def test_routing_runs_as_exactly_one_replica() -> None:
    routing = objects("Deployment")["routing"]
    assert routing["spec"]["replicas"] == 1
    assert routing["spec"]["strategy"]["type"] == "Recreate"


def test_kubernetes_setup_job_creates_topics_then_migrates() -> None:
    job = objects("Job")["lifeline-setup"]
    container = _container(job)
    commands = [assert_cli_accepts(argv) for argv in lifeline_command(container["command"])]
    assert [c.command for c in commands] == ["topics", "migrate"]
    assert commands[1].service == "all"
    secrets = _secret_env(container)
    for service in SERVICES:
        assert secrets[f"LIFELINE_{service.upper()}_DATABASE_URL"] == f"{service}-database-url"


def test_every_pod_uses_the_same_image() -> None:
    images = {_container(doc)["image"] for doc in load_k8s() if doc["kind"] in ("Deployment", "Job")}
    assert len(images) == 1


# --- image -----------------------------------------------------------------------------

def test_dockerfile_is_multi_stage_and_runs_as_non_root() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    stages = [line for line in lines if line.upper().startswith("FROM ")]
    assert len(stages) >= 2
    final_stage = lines[lines.index(stages[-1]):]
    users = [line.split()[1] for line in final_stage if line.upper().startswith("USER ")]
    assert users, "the runtime stage must switch user"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any("COPY --from=" in line for line in final_stage), "runtime copies the build stage"
    assert 'ENTRYPOINT ["lifeline"]' in final_stage
    cmd = next(line for line in final_stage if line.startswith("CMD "))
    assert_cli_accepts(yaml.safe_load(cmd[len("CMD "):]))


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (ROOT / ".dockerignore").read_text().split()
    assert lines[lines.index("*")] == "*"  # ignore everything, then allow what the build copies
    for needed in ("!pyproject.toml", "!README.md", "!shared/", "!services/"):
        assert needed in lines


# --- documentation ---------------------------------------------------------------------

def test_the_operator_readme_documents_every_setting() -> None:
    readme = (DEPLOY / "README.md").read_text()
    missing = sorted(name for name in SETTINGS if name not in readme)
    assert not missing, f"deploy/README.md does not document {missing}"
