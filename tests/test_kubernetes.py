"""The kustomize manifests that deploy_target=kubernetes renders.

Each overlay must build with `kubectl kustomize` as committed. The deploy
workflow then pins the image it built by digest (`kustomize edit set image`,
which writes an `images:` entry into the overlay); checkov runs on what that
builds, and the properties below hold for each combination of the answers the
manifests depend on.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from tests.conftest import QUESTIONS, VARIANTS
from tests.delivery import (
    checkov,
    deploy_fixtures,
    expected_secrets,
    guarded,
    observability,
    run_tool,
    tool,
)
from tests.harness import leftover_jinja

if TYPE_CHECKING:
    from pathlib import Path

    from tests.variants import Answers

ENVIRONMENTS = ("staging", "production")
DIGEST = "sha256:" + "0123456789abcdef" * 4
RUN_AS = 10001
DEFAULT_DRAIN_SECONDS = 5
DEFAULT_GRACEFUL_TIMEOUT_SECONDS = 30


case, project = deploy_fixtures(VARIANTS, "kubernetes", "kubernetes")

Manifests = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def slug(project: Path) -> str:
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    return str(recorded["project_slug"])


def build(overlay: Path, cwd: Path) -> str:
    return run_tool([tool("kubectl"), "kustomize", str(overlay)], cwd).stdout


def index(documents: str) -> Manifests:
    found: Manifests = {}
    for document in yaml.safe_load_all(documents):
        if document:
            found[document["kind"], document["metadata"]["name"]] = document
    return found


def pin_image(project: Path, environment: str, slug: str) -> Path:
    """A copy of the overlay with the image pinned as the deploy workflow pins it.

    `kustomize edit set image <slug>=<repository>@<digest>` writes exactly this
    `images:` entry; kubectl has no `edit`, so the test writes it.
    """
    overlays = project / "deploy" / "kubernetes" / "overlays"
    pinned = overlays / f"{environment}-pinned"
    if not pinned.exists():
        shutil.copytree(overlays / environment, pinned)
        kustomization = pinned / "kustomization.yaml"
        config = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        config["images"] = [
            {"name": slug, "newName": f"ghcr.io/example-owner/{slug}", "digest": DIGEST}
        ]
        kustomization.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return pinned


@pytest.fixture(scope="module")
def built(project: Path, slug: str) -> dict[str, Manifests]:
    """Each environment's manifests, with the image pinned by the deploy workflow."""
    return {
        environment: index(build(pin_image(project, environment, slug), project))
        for environment in ENVIRONMENTS
    }


def workloads(manifests: Manifests) -> list[dict[str, Any]]:
    return [body for (kind, _), body in manifests.items() if kind in {"Deployment", "Job"}]


def config_map(manifests: Manifests, slug: str) -> dict[str, str]:
    (data,) = (
        body.get("data", {})
        for (kind, name), body in manifests.items()
        if kind == "ConfigMap" and name.startswith(f"{slug}-config")
    )
    return dict(data)


def http_port(answers: Answers) -> int:
    default = next(q.default for q in QUESTIONS if q.name == "http_port")
    return int(answers.get("http_port", default))


def container_ports(manifests: Manifests, slug: str) -> dict[str, int]:
    (container,) = manifests["Deployment", slug]["spec"]["template"]["spec"]["containers"]
    return {port["name"]: int(port["containerPort"]) for port in container["ports"]}


# --- the checks -------------------------------------------------------------------


def test_overlays_build_as_committed(project: Path, slug: str) -> None:
    assert leftover_jinja(project) == []
    assert not (project / "infra").exists()
    kubernetes = project / "deploy" / "kubernetes"
    for environment in ENVIRONMENTS:
        manifests = index(build(kubernetes / "overlays" / environment, project))
        deployment = manifests["Deployment", slug]
        # The image is a name the deploy workflow's `kustomize edit set image` replaces.
        images = {
            container["image"]
            for body in workloads(manifests)
            for container in body["spec"]["template"]["spec"]["containers"]
        }
        assert images == {slug}
        assert deployment["metadata"]["namespace"] == f"{slug}-{environment}"


def test_checkov_finds_no_failed_check(
    built: dict[str, Manifests], project: Path, tmp_path: Path
) -> None:
    for environment, manifests in built.items():
        folder = tmp_path / environment
        folder.mkdir()
        (folder / "manifests.yaml").write_text(
            yaml.safe_dump_all(manifests.values(), sort_keys=False), encoding="utf-8"
        )
        failed = checkov(folder, "kubernetes", cwd=project)
        assert failed == [], f"{environment}:\n" + "\n".join(
            f"{check.get('check_id')} {check.get('resource')}" for check in failed
        )


def test_skips_give_their_reason(built: dict[str, Manifests]) -> None:
    for manifests in built.values():
        for body in manifests.values():
            for key, value in (body["metadata"].get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = str(value).partition("=")
                    assert check.startswith("CKV")
                    assert len(reason) >= 20, f"{key} gives no reason"


def test_manifests_never_contain_a_secret(
    case: Answers, built: dict[str, Manifests], slug: str
) -> None:
    secrets = expected_secrets(case)
    for manifests in built.values():
        assert not [name for kind, name in manifests if kind == "Secret"]
        assert not set(config_map(manifests, slug)) & secrets
        for body in workloads(manifests):
            (container,) = body["spec"]["template"]["spec"]["containers"]
            referenced = {}
            for variable in container.get("env", []):
                assert "value" not in variable, f"{variable['name']} is set in the manifest"
                reference = variable["valueFrom"]["secretKeyRef"]
                assert reference["name"] == f"{slug}-secrets"
                referenced[variable["name"]] = reference["key"]
            assert referenced == {name: name for name in secrets}
            for source in container.get("envFrom", []):
                assert "secretRef" not in source or source["secretRef"]["name"] == f"{slug}-secrets"


def test_every_container_is_restricted(built: dict[str, Manifests]) -> None:
    for manifests in built.values():
        for body in workloads(manifests):
            pod = body["spec"]["template"]["spec"]
            assert pod["automountServiceAccountToken"] is False
            assert pod["serviceAccountName"] != "default"
            context = pod["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context["runAsUser"] == RUN_AS
            assert context["runAsGroup"] == RUN_AS
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
            for container in pod["containers"]:
                restricted = container["securityContext"]
                assert restricted["runAsNonRoot"] is True
                assert restricted["runAsUser"] == RUN_AS
                assert restricted["runAsGroup"] == RUN_AS
                assert restricted["readOnlyRootFilesystem"] is True
                assert restricted["allowPrivilegeEscalation"] is False
                assert restricted["capabilities"]["drop"] == ["ALL"]
                assert restricted["seccompProfile"] == {"type": "RuntimeDefault"}
                mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                assert mounts.get("/tmp") in tmp_volumes  # noqa: S108 - the pod's own emptyDir
                for kind in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(container["resources"][kind])
                assert container["image"].endswith(f"@{DIGEST}")


def test_probes_and_a_grace_period_longer_than_the_drain(
    case: Answers, built: dict[str, Manifests], slug: str
) -> None:
    for manifests in built.values():
        pod = manifests["Deployment", slug]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["startupProbe"]["httpGet"]["path"] == "/livez"
        config = config_map(manifests, slug)
        ports = container_ports(manifests, slug)
        assert ports["http"] == http_port(case)
        if "prometheus" in observability(case):
            # /metrics on a named port of its own, the one the service is told to serve it on.
            assert set(ports) == {"http", "metrics"}
            assert ports["metrics"] == int(config["METRICS__PORT"]) != http_port(case)
        else:
            assert set(ports) == {"http"}
            assert "METRICS__PORT" not in config
        drain = float(config.get("SERVER__DRAIN_SECONDS", DEFAULT_DRAIN_SECONDS))
        graceful = float(
            config.get("SERVER__GRACEFUL_TIMEOUT_SECONDS", DEFAULT_GRACEFUL_TIMEOUT_SECONDS)
        )
        assert pod["terminationGracePeriodSeconds"] > drain + graceful
        assert config["SERVER__HOST"] == "0.0.0.0"  # noqa: S104 - the container listens on all interfaces
        assert config["LOG__FORMAT"] == "json"
        assert (config.get("STORE__BACKEND") == "redis") is guarded(case)


def test_migration_job_exists_only_with_a_database(
    case: Answers, built: dict[str, Manifests], slug: str
) -> None:
    for manifests in built.values():
        jobs = {name: body for (kind, name), body in manifests.items() if kind == "Job"}
        if case["database"] == "none":
            assert jobs == {}
            continue
        assert set(jobs) == {f"{slug}-migrate"}
        job = jobs[f"{slug}-migrate"]
        assert job["spec"]["backoffLimit"] >= 0
        assert job["spec"]["ttlSecondsAfterFinished"] > 0
        pod = job["spec"]["template"]["spec"]
        assert pod["restartPolicy"] == "Never"
        (container,) = pod["containers"]
        assert container["args"] == ["db", "upgrade"]
        (server,) = manifests["Deployment", slug]["spec"]["template"]["spec"]["containers"]
        assert container["image"] == server["image"]


def test_service_ingress_autoscaler_and_budget(
    case: Answers, built: dict[str, Manifests], slug: str
) -> None:
    for environment, manifests in built.items():
        assert ("ServiceAccount", slug) in manifests
        # The namespace is made once by a cluster admin: a deploy identity bound
        # to a namespaced Role could not apply a Namespace object.
        assert not [name for kind, name in manifests if kind == "Namespace"]
        assert {body["metadata"]["namespace"] for body in manifests.values()} == {
            f"{slug}-{environment}"
        }
        service = manifests["Service", slug]
        # Only the API: the Ingress (through the Service) never reaches the metrics port.
        assert [port["targetPort"] for port in service["spec"]["ports"]] == ["http"]
        ingress = manifests["Ingress", slug]
        (tls,) = ingress["spec"]["tls"]
        assert tls["hosts"] == [ingress["spec"]["rules"][0]["host"]]
        assert tls["secretName"] == f"{slug}-tls"
        autoscaler = manifests["HorizontalPodAutoscaler", slug]
        assert autoscaler["apiVersion"] == "autoscaling/v2"
        assert autoscaler["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert "minAvailable" in manifests["PodDisruptionBudget", slug]["spec"]
        assert config_map(manifests, slug)["APP_ENV"] == environment

        policy = manifests["NetworkPolicy", slug]["spec"]
        assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
        # The ingress controller reaches the API port, Prometheus the metrics port; no more.
        sources = {
            rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]: (
                rule["ports"]
            )
            for rule in policy["ingress"]
        }
        expected = {"ingress-nginx": [{"protocol": "TCP", "port": http_port(case)}]}
        if "prometheus" in observability(case):
            metrics_port = container_ports(manifests, slug)["metrics"]
            expected["monitoring"] = [{"protocol": "TCP", "port": metrics_port}]
        assert sources == expected
        outbound = {port["port"] for rule in policy["egress"] for port in rule["ports"]}
        assert {53, 443} <= outbound
        assert (5432 in outbound) is (case["database"] != "none")
        assert (6379 in outbound) is guarded(case)


def test_production_is_larger_than_staging(built: dict[str, Manifests], slug: str) -> None:
    staging, production = built["staging"], built["production"]

    def replicas(manifests: Manifests) -> int:
        return int(manifests["HorizontalPodAutoscaler", slug]["spec"]["minReplicas"])

    def memory_limit_mi(manifests: Manifests) -> int:
        (container,) = manifests["Deployment", slug]["spec"]["template"]["spec"]["containers"]
        value = str(container["resources"]["limits"]["memory"])
        return int(value[:-2]) * (1024 if value.endswith("Gi") else 1)

    assert replicas(production) > replicas(staging)
    assert memory_limit_mi(production) > memory_limit_mi(staging)
    budget = production["PodDisruptionBudget", slug]["spec"]["minAvailable"]
    assert 2 <= budget < replicas(production)
