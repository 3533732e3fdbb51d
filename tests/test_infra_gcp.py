"""The Terraform for GCP Cloud Run that deploy_target=gcp_cloud_run renders.

Terraform cannot download providers here, so `terraform init/validate` never
runs: every file must parse, `terraform fmt` must leave it unchanged, checkov
must find nothing to fail, and the properties below must hold for each
combination of the answers the Terraform depends on.
"""

from __future__ import annotations

import re
import shutil
from typing import TYPE_CHECKING, Any

import pytest
from hcl2.api import loads as load_hcl

from tests.conftest import QUESTIONS, VARIANTS
from tests.delivery import (
    checkov,
    deploy_fixtures,
    expected_secrets,
    guarded,
    run_tool,
)
from tests.harness import leftover_jinja

if TYPE_CHECKING:
    from pathlib import Path

    from tests.variants import Answers

ENVIRONMENTS = ("staging", "production")
REQUIRED_OUTPUTS = {"service_url", "service_name", "region", "artifact_registry_repository"}
SECRET_WORDS = re.compile(
    r"secret|password|passwd|token|credential|auth|api_?key|private_?key", re.IGNORECASE
)
SENSITIVE_ATTRIBUTES = re.compile(
    r"auth_string|secret_data|password|private_key|google_secret_manager_secret_version"
)
CA_SOURCES = {
    "database_ca": "google_sql_database_instance.main.server_ca_cert",
    "redis_ca": "google_redis_instance.store.server_ca_certs",
}
SKIP = re.compile(r"checkov:skip=(?P<check>[A-Z0-9_]+)(?::(?P<reason>.*))?")


case, project = deploy_fixtures(VARIANTS, "gcp_cloud_run", "gcp")


@pytest.fixture(scope="module")
def infra(project: Path) -> Path:
    return project / "infra" / "gcp"


# --- reading the parsed Terraform ----------------------------------------------


def parse(path: Path) -> dict[str, Any]:
    try:
        return load_hcl(path.read_text(encoding="utf-8"))
    except Exception as error:  # noqa: BLE001 - any parser error fails the test with its file
        pytest.fail(f"{path} does not parse as HCL: {error}")


def attr(node: dict[str, Any], key: str) -> Any:  # noqa: ANN401 - any HCL value
    """An attribute's value (parsers wrap attributes in one-element lists, or not)."""
    value = node.get(key)
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return value


def blocks(node: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = node.get(key, [])
    return [block for block in (value if isinstance(value, list) else [value]) if block]


def resources(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for group in parse(path).get("resource", []):
            for kind, named in group.items():
                for name, body in named.items():
                    found[kind, name] = body
    return found


def top_level(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Named top-level blocks of one kind (variable, output, module) in a directory."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for group in parse(path).get(kind, []):
            found.update(group)
    return found


def local_text(module: Path, name: str) -> str:
    """The source of one `locals` entry that is a merge(...) of maps."""
    source = (module / "main.tf").read_text(encoding="utf-8")
    match = re.search(rf"^  {name} = merge\((?P<body>.*?)^  \)", source, re.MULTILINE | re.DOTALL)
    assert match, f"local.{name} is not a merge(...) in main.tf"
    return match.group("body")


def map_entries(text: str) -> dict[str, str]:
    return dict(re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=\s*(\"[^\"]*\"|[^\s,}]+)", text))


def containers(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers of a Cloud Run service or job, however deep its template nests."""
    found: list[dict[str, Any]] = []
    for template in blocks(resource, "template"):
        found.extend(blocks(template, "containers"))
        found.extend(containers(template))
    return found


def dynamic_blocks(node: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [dynamic[kind] for dynamic in blocks(node, "dynamic") if kind in dynamic]


# --- the checks -------------------------------------------------------------------


def test_renders_only_for_its_target(case: Answers, project: Path, infra: Path) -> None:
    assert leftover_jinja(project) == []
    assert not (project / "infra" / "aws").exists()
    assert not (project / "deploy").exists()
    roots = sorted(p.name for p in (infra / "environments").iterdir())
    assert roots == sorted(ENVIRONMENTS)
    for path in sorted(infra.rglob("*.tf")):
        parse(path)
    assert case["deploy_target"] == "gcp_cloud_run"


def test_checkov_finds_no_failed_check(infra: Path, project: Path) -> None:
    failed = checkov(infra, "terraform", cwd=project)
    assert failed == [], "\n".join(
        f"{check.get('check_id')} {check.get('resource')} ({check.get('file_path')})"
        for check in failed
    )


def test_every_checkov_skip_gives_its_reason(infra: Path) -> None:
    for path in sorted(infra.rglob("*.tf")):
        for match in SKIP.finditer(path.read_text(encoding="utf-8")):
            reason = (match.group("reason") or "").strip()
            assert len(reason) >= 20, f"{path.name}: skip of {match['check']} gives no reason"


def test_terraform_fmt_leaves_it_unchanged(infra: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not on PATH: `terraform fmt -check` needs the terraform CLI")
    run_tool([terraform, "fmt", "-check", "-recursive", "-diff", str(infra)], infra)


def test_every_secret_comes_from_secret_manager(case: Answers, infra: Path) -> None:
    module = infra / "modules" / "service"
    secrets = map_entries(local_text(module, "secrets"))
    plain = map_entries(local_text(module, "plain_environment"))
    assert set(secrets) == expected_secrets(case)
    assert not set(plain) & expected_secrets(case), "a secret is set as plain env"

    found = resources(module)
    workloads = [found["google_cloud_run_v2_service", "service"]]
    if case["database"] != "none":
        workloads.append(found["google_cloud_run_v2_job", "migrate"])
    for workload in workloads:
        for container in containers(workload):
            # Static env blocks would bypass both maps: there are none.
            assert blocks(container, "env") == []
            by_source = {attr(env, "for_each"): env for env in dynamic_blocks(container, "env")}
            assert set(by_source) == {"${local.plain_environment}", "${local.secrets}"}
            (secret_env,) = blocks(by_source["${local.secrets}"], "content")
            assert "value" not in secret_env
            (source,) = blocks(secret_env, "value_source")
            (reference,) = blocks(source, "secret_key_ref")
            assert attr(reference, "secret") == (
                "${google_secret_manager_secret.env[env.key].secret_id}"
            )
            (plain_env,) = blocks(by_source["${local.plain_environment}"], "content")
            assert "value_source" not in plain_env

    grants = found["google_secret_manager_secret_iam_member", "runtime"]
    assert attr(grants, "for_each") == "${google_secret_manager_secret.env}"
    assert attr(grants, "role") == "roles/secretmanager.secretAccessor"


def test_no_secret_value_reaches_state_or_outputs(infra: Path) -> None:
    for directory in [infra / "modules" / "service", *(infra / "environments").iterdir()]:
        for name, output in top_level(directory, "output").items():
            assert not SECRET_WORDS.search(name), f"output {name} looks like a secret"
            assert not SENSITIVE_ATTRIBUTES.search(str(attr(output, "value"))), name
        found = resources(directory)
        kinds = {kind for kind, _ in found}
        assert not kinds & {"google_sql_user", "random_password", "tls_private_key"}
        for (kind, name), body in found.items():
            if kind == "google_secret_manager_secret_version":
                # Only the public CA certificates of the data stores.
                assert name in CA_SOURCES, f"Terraform writes the value of secret {name}"
                assert CA_SOURCES[name] in str(attr(body, "secret_data"))


def test_data_stores_follow_the_answers(case: Answers, infra: Path) -> None:
    module = infra / "modules" / "service"
    found = resources(module)
    database = case["database"] != "none"
    guardrails = guarded(case)

    assert (("google_sql_database_instance", "main") in found) is database
    assert (("google_cloud_run_v2_job", "migrate") in found) is database
    assert (("google_redis_instance", "store") in found) is guardrails
    assert (("google_compute_network", "private") in found) is (database or guardrails)
    service = found["google_cloud_run_v2_service", "service"]
    (template,) = blocks(service, "template")
    assert bool(blocks(template, "vpc_access")) is (database or guardrails)
    plain = map_entries(local_text(module, "plain_environment"))
    assert (plain.get("STORE__BACKEND") == '"redis"') is guardrails

    if database:
        instance = found["google_sql_database_instance", "main"]
        assert attr(instance, "deletion_protection") == "${var.deletion_protection}"
        (settings,) = blocks(instance, "settings")
        assert attr(settings, "availability_type") == (
            '${var.database_high_availability ? "REGIONAL" : "ZONAL"}'
        )
        (network,) = blocks(settings, "ip_configuration")
        assert attr(network, "ipv4_enabled") is False
        assert attr(network, "ssl_mode") == "ENCRYPTED_ONLY"
        assert attr(network, "private_network") == "${google_compute_network.private.id}"
        (backups,) = blocks(settings, "backup_configuration")
        assert attr(backups, "enabled") is True
        assert attr(backups, "point_in_time_recovery_enabled") is True
        job = found["google_cloud_run_v2_job", "migrate"]
        assert attr(job, "name") == "${var.name}-migrate"
        (container,) = containers(job)
        assert attr(container, "image") == "${var.image}"
        assert container["args"] in (["db", "upgrade"], [["db", "upgrade"]])
    if guardrails:
        redis = found["google_redis_instance", "store"]
        assert attr(redis, "auth_enabled") is True
        assert attr(redis, "transit_encryption_mode") == "SERVER_AUTHENTICATION"
        assert attr(redis, "connect_mode") == "PRIVATE_SERVICE_ACCESS"
        assert attr(redis, "tier") == "${var.redis_tier}"

    for environment in ENVIRONMENTS:
        (call,) = top_level(infra / "environments" / environment, "module").values()
        production = environment == "production"
        assert attr(call, "deletion_protection") is production
        assert attr(call, "environment") == environment
        assert ("database_high_availability" in call) is database
        if database:
            assert attr(call, "database_high_availability") is production
        assert ("redis_tier" in call) is guardrails
        if guardrails:
            assert attr(call, "redis_tier") == ("STANDARD_HA" if production else "BASIC")


def test_service_serves_probes_and_scales(case: Answers, infra: Path) -> None:
    module = infra / "modules" / "service"
    service = resources(module)["google_cloud_run_v2_service", "service"]
    (template,) = blocks(service, "template")
    (scaling,) = blocks(template, "scaling")
    assert attr(scaling, "min_instance_count") == "${var.min_instances}"
    assert attr(scaling, "max_instance_count") == "${var.max_instances}"
    (container,) = containers(service)
    (port,) = blocks(container, "ports")
    assert attr(port, "container_port") == "${var.http_port}"
    (startup,) = blocks(container, "startup_probe")
    (liveness,) = blocks(container, "liveness_probe")
    assert attr(blocks(startup, "http_get")[0], "path") == "/readyz"
    assert attr(blocks(liveness, "http_get")[0], "path") == "/livez"
    port_default = next(q.default for q in QUESTIONS if q.name == "http_port")
    expected_port = case.get("http_port", port_default)
    assert attr(top_level(module, "variable")["http_port"], "default") == expected_port

    plain = map_entries(local_text(module, "plain_environment"))
    assert plain["SERVER__HOST"] == '"0.0.0.0"'
    assert plain["LOG__FORMAT"] == '"json"'
    assert plain["HTTP__TRUSTED_PROXY_HOPS"] == '"1"'
    assert plain["APP_ENV"] == "var.environment"
    assert plain["SERVICE_NAME"] == "var.name"

    # Traffic: created on the latest revision, then owned by the deploy workflow.
    (traffic,) = blocks(service, "traffic")
    assert attr(traffic, "type") == "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
    (lifecycle,) = blocks(service, "lifecycle")
    assert "traffic" in str(lifecycle["ignore_changes"])


def test_alerts_cover_errors_latency_and_health(infra: Path) -> None:
    found = resources(infra / "modules" / "service")
    policies = [
        body for (kind, _), body in found.items() if kind == "google_monitoring_alert_policy"
    ]
    filters = " ".join(str(body) for body in policies)
    assert "response_code_class" in filters
    assert "5xx" in filters
    assert "run.googleapis.com/request_latencies" in filters
    assert "REDUCE_PERCENTILE_95" in filters
    assert "probe failed" in filters
    assert "uptime_check/check_passed" in filters
    for body in policies:
        assert attr(body, "notification_channels") == "${var.notification_channels}"
        assert blocks(body, "documentation"), "every alert says what it means"


def test_environments_pin_providers_and_keep_separate_state(infra: Path) -> None:
    prefixes = set()
    for environment in ENVIRONMENTS:
        root = infra / "environments" / environment
        (settings,) = (
            block
            for path in sorted(root.glob("*.tf"))
            for block in parse(path).get("terraform", [])
        )
        (providers,) = blocks(settings, "required_providers")
        google = attr(providers, "google")
        assert google["source"] == "hashicorp/google"
        assert re.fullmatch(r"~> \d+\.\d+", google["version"]), google["version"]
        (backend,) = blocks(settings, "backend")
        prefixes.add(attr(backend["gcs"], "prefix"))

        variables = top_level(root, "variable")
        assert {"project_id", "region", "image", "notification_channels"} <= set(variables)
        for name, variable in variables.items():
            assert attr(variable, "description"), f"{environment}: variable {name} is undocumented"
        for name in ("project_id", "region", "image"):
            assert blocks(variables[name], "validation"), f"{environment}: {name} is not validated"
        outputs = set(top_level(root, "output"))
        assert outputs >= REQUIRED_OUTPUTS
        example = (root / "terraform.tfvars.example").read_text(encoding="utf-8")
        assert "project_id" in example
    assert len(prefixes) == len(ENVIRONMENTS), "environments share a state prefix"

    module = infra / "modules" / "service"
    for name, variable in top_level(module, "variable").items():
        assert attr(variable, "description"), f"module variable {name} is undocumented"


def test_migration_job_output_follows_the_database(case: Answers, infra: Path) -> None:
    for environment in ENVIRONMENTS:
        outputs = set(top_level(infra / "environments" / environment, "output"))
        assert ("migration_job_name" in outputs) is (case["database"] != "none")
