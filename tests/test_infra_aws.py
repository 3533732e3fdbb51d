"""The Terraform for AWS ECS Fargate that deploy_target=aws_ecs_fargate renders.

Providers cannot be downloaded here, so `terraform init/validate` never runs.
Instead, for each combination of the answers the Terraform depends on: every
file parses as HCL, `terraform fmt` leaves it unchanged, checkov fails nothing
(each skip names its reason), and the properties below hold: secrets reach the
task from Secrets Manager only, no output carries a secret, deployments roll
back, and the data stores exist exactly when their gates are on.
"""

from __future__ import annotations

import re
import shutil
from typing import TYPE_CHECKING, Any

import pytest
from hcl2.api import loads as parse_hcl

from tests.conftest import VARIANTS
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
REQUIRED_OUTPUTS = {
    "service_url",
    "cluster_name",
    "service_name",
    "task_definition_family",
    "migration_subnet_ids",
    "migration_security_group_id",
    "ecr_repository_url",
}
SECRET_NAMES = re.compile(
    r"secret|password|passwd|token|credential|api_?key|private", re.IGNORECASE
)
# References that would put a secret value into an output or the state.
SECRET_SOURCES = re.compile(
    r"aws_secretsmanager_secret_version|secret_string|master_user_secret|random_password"
    r"|auth_token|\.password\b"
)
SKIP = re.compile(r"#checkov:skip=(?P<check>[A-Z0-9_]+)(?::(?P<reason>[^\n]*))?")
JINJA_OR_DIRECTIVE = re.compile(r"(?<!\$)\{\{|\{%|\{#|(?<!%)%\{")
# What the deployed service must be told in plain environment variables.
PLAIN_SETTINGS = {
    "APP_ENV": "${var.environment}",
    "SERVER__HOST": "0.0.0.0",  # noqa: S104 - the container must listen on every interface
    "LOG__FORMAT": "json",
    "HTTP__TRUSTED_PROXY_HOPS": "1",
}


def squashed(expression: object) -> str:
    """An expression without whitespace: the parser re-spaces the expressions it keeps as text."""
    return re.sub(r"\s+", "", str(expression))


case, project = deploy_fixtures(VARIANTS, "aws_ecs_fargate", "aws")


# --- fixtures --------------------------------------------------------------------


@pytest.fixture(scope="module")
def infra(project: Path) -> Path:
    return project / "infra" / "aws"


@pytest.fixture(scope="module")
def module(infra: Path) -> dict[str, list[Any]]:
    return parse_directory(infra / "modules" / "service")


@pytest.fixture(scope="module")
def roots(infra: Path) -> dict[str, dict[str, list[Any]]]:
    return {name: parse_directory(infra / "environments" / name) for name in ENVIRONMENTS}


# --- reading the parsed Terraform ----------------------------------------------


def parse_directory(directory: Path) -> dict[str, list[Any]]:
    """The top-level blocks of every .tf file in a directory, merged by block type."""
    merged: dict[str, list[Any]] = {}
    files = sorted(directory.glob("*.tf"))
    assert files, f"no Terraform in {directory}"
    for path in files:
        try:
            parsed = parse_hcl(path.read_text(encoding="utf-8"))
        except Exception as error:  # noqa: BLE001 - any parser error fails the test with its file
            pytest.fail(f"{path} does not parse as HCL: {error}")
        for kind, blocks in parsed.items():
            merged.setdefault(kind, []).extend(blocks)
    return merged


def value(node: dict[str, Any], key: str) -> Any:  # noqa: ANN401 - any HCL value
    """An attribute's value; the parser wraps attributes of blocks in one-element lists."""
    found = node.get(key)
    if isinstance(found, list) and len(found) == 1:
        return found[0]
    return found


def block(node: dict[str, Any], key: str) -> dict[str, Any]:
    """The one nested block `key` of a block."""
    found = node.get(key)
    assert isinstance(found, list), f"no {key} block"
    assert len(found) == 1, f"{len(found)} {key} blocks"
    nested: dict[str, Any] = found[0]
    return nested


def named(parsed: dict[str, list[Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Top-level blocks with one label (variable, output, module) by name."""
    return {name: body for entry in parsed.get(kind, []) for name, body in entry.items()}


def resources(parsed: dict[str, list[Any]], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        name: body
        for entry in parsed.get("resource", [])
        for kind, bodies in entry.items()
        if kind == resource_type
        for name, body in bodies.items()
    }


def resource(parsed: dict[str, list[Any]], resource_type: str, name: str) -> dict[str, Any]:
    found = resources(parsed, resource_type)
    assert name in found, f"no {resource_type}.{name}"
    return found[name]


def locals_of(parsed: dict[str, list[Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for entry in parsed.get("locals", []):
        merged.update({key: value(entry, key) for key in entry if not key.startswith("__")})
    return merged


# --- every file ------------------------------------------------------------------


def test_terraform_renders_only_for_its_target(project: Path, infra: Path) -> None:
    assert infra.is_dir()
    assert not (project / "infra" / "gcp").exists()
    problems = [
        f"{path.relative_to(project)}:{number}: {line.strip()}"
        for path in sorted(infra.rglob("*"))
        if path.is_file()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if JINJA_OR_DIRECTIVE.search(line)
    ]
    assert problems == [], "Jinja or a Terraform template directive was left in the output"
    assert leftover_jinja(infra) == []


def test_every_file_parses(infra: Path) -> None:
    for directory in [
        infra / "modules" / "service",
        *(infra / "environments" / e for e in ENVIRONMENTS),
    ]:
        parse_directory(directory)


def test_checkov_fails_nothing(infra: Path, project: Path) -> None:
    failed = checkov(infra, "terraform", cwd=project)
    assert failed == [], "\n".join(
        f"{check.get('check_id')} {check.get('resource')} ({check.get('file_path')}): "
        f"{check.get('check_name')}"
        for check in failed
    )


def test_every_checkov_skip_gives_a_reason(infra: Path) -> None:
    skips = [
        (path.name, match)
        for path in sorted(infra.rglob("*.tf"))
        for match in SKIP.finditer(path.read_text(encoding="utf-8"))
    ]
    assert skips, "the skips below are expected; a test that finds none checks nothing"
    for name, match in skips:
        reason = (match.group("reason") or "").strip()
        assert len(reason) >= 20, f"{name}: skip of {match.group('check')} without a real reason"


def test_terraform_fmt_leaves_every_file_unchanged(infra: Path) -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.skip("terraform is not installed: `terraform fmt -check` cannot run here")
    run_tool([terraform, "fmt", "-check", "-recursive", "-diff", "-no-color"], infra)


# --- secrets ---------------------------------------------------------------------


def test_every_secret_reaches_the_task_from_secrets_manager(
    case: Answers, module: dict[str, list[Any]]
) -> None:
    local = locals_of(module)
    names = local["secret_names"]
    assert len(names) == len(set(names))
    assert set(names) == expected_secrets(case)

    secret = resource(module, "aws_secretsmanager_secret", "app")
    assert value(secret, "for_each") == "${toset(local.secret_names)}"
    assert "aws_kms_key.this" in value(secret, "kms_key_id")

    container = local["app_container"]
    # One `secrets` entry per name, each a reference to that secret's ARN.
    assert re.fullmatch(
        r"\$\{\[for(\w+)inlocal\.secret_names:\{'name':'\$\{\1\}',"
        r"'valueFrom':'\$\{aws_secretsmanager_secret\.app\[\1\]\.arn\}'\}\]\}",
        squashed(container["secrets"]),
    ), container["secrets"]

    # The task's execution role may read those secrets and nothing else.
    policy = next(
        entry["aws_iam_policy_document"]["execution"]
        for entry in module["data"]
        if "execution" in entry.get("aws_iam_policy_document", {})
    )
    statements = {value(s, "sid"): s for s in policy["statement"]}
    reads = [s for s in statements.values() if "secretsmanager" in str(value(s, "actions"))]
    assert [value(s, "actions") for s in reads] == [["secretsmanager:GetSecretValue"]]
    assert "aws_secretsmanager_secret.app" in str(value(reads[0], "resources"))


def test_no_secret_is_a_plain_environment_variable(
    case: Answers, module: dict[str, list[Any]], infra: Path
) -> None:
    local = locals_of(module)
    plain = local["base_environment"]
    secrets = expected_secrets(case)

    assert not secrets & set(plain)
    for name, expected in PLAIN_SETTINGS.items():
        assert plain.get(name) == expected, name
    assert plain["SERVER__PORT"] == "${tostring(var.container_port)}"
    assert plain["SERVICE_NAME"] == case.get("project_slug", "launchgate-service")
    assert ("STORE__BACKEND" in plain) == guarded(case)
    if guarded(case):
        assert plain["STORE__BACKEND"] == "redis"

    container = local["app_container"]
    assert squashed(local["container_environment"]) == (
        "${merge(var.environment_variables,local.base_environment)}"
    )
    assert "local.container_environment" in container["environment"]
    # Extra settings the team adds are refused when they name a secret.
    task = resource(module, "aws_ecs_task_definition", "app")
    precondition = block(block(task, "lifecycle"), "precondition")
    assert "local.secret_names" in value(precondition, "condition")

    # No secret value is ever written by Terraform: no secret versions, no
    # generated passwords, no ElastiCache AUTH token, no RDS password argument.
    text = "\n".join(path.read_text(encoding="utf-8") for path in infra.rglob("*.tf"))
    assert "aws_secretsmanager_secret_version" not in text
    assert "random_password" not in text
    assert not re.search(r"^\s*(auth_token|password|secret_string)\s*=", text, re.MULTILINE)


def test_no_output_carries_a_secret(
    module: dict[str, list[Any]], roots: dict[str, dict[str, list[Any]]]
) -> None:
    for where, parsed in [("module", module), *roots.items()]:
        outputs = named(parsed, "output")
        assert set(outputs) >= REQUIRED_OUTPUTS, where
        for name, body in outputs.items():
            assert not SECRET_NAMES.search(name), f"{where}: output {name} is named like a secret"
            assert value(body, "sensitive") in {None, False}, f"{where}: output {name}"
            assert not SECRET_SOURCES.search(str(value(body, "value"))), f"{where}: {name}"
            assert value(body, "description"), f"{where}: output {name} has no description"


# --- the service and its rollout ----------------------------------------------------


def test_deployments_roll_back_and_drain(case: Answers, module: dict[str, list[Any]]) -> None:
    service = resource(module, "aws_ecs_service", "app")
    breaker = block(service, "deployment_circuit_breaker")
    assert value(breaker, "enable") is True
    assert value(breaker, "rollback") is True
    assert value(block(service, "alarms"), "rollback") is True
    assert value(service, "deployment_minimum_healthy_percent") == 100
    assert value(service, "deployment_maximum_percent") == 200
    assert value(service, "launch_type") == "FARGATE"
    assert value(block(service, "network_configuration"), "assign_public_ip") is False

    # Old revisions stay usable for the one-command rollback.
    task = resource(module, "aws_ecs_task_definition", "app")
    assert value(task, "skip_destroy") is True

    # The load balancer waits out the server's drain and graceful shutdown.
    local = locals_of(module)
    target_group = resource(module, "aws_lb_target_group", "app")
    assert value(target_group, "deregistration_delay") == "${local.deregistration_delay}"
    assert value(block(target_group, "health_check"), "path") == "/readyz"
    drain = named(module, "variable")
    assert (
        value(drain["drain_seconds"], "default")
        + value(drain["graceful_timeout_seconds"], "default")
        == 35
    )
    assert "var.drain_seconds+var.graceful_timeout_seconds" in squashed(
        local["deregistration_delay"]
    )
    assert "var.drain_seconds+var.graceful_timeout_seconds" in squashed(local["stop_timeout"])

    container = local["app_container"]
    assert container["stopTimeout"] == "${local.stop_timeout}"
    assert container["readonlyRootFilesystem"] is True
    assert container["user"] == "10001"
    assert container["mountPoints"] == [
        {"sourceVolume": "tmp", "containerPath": "/tmp", "readOnly": False}  # noqa: S108 - a path in the container
    ]
    package = case.get("package_name", "launchgate_service")
    assert container["healthCheck"]["command"] == ["CMD", package, "probe", "livez"]
    assert container["logConfiguration"]["logDriver"] == "awslogs"


def test_autoscaling_tracks_cpu_and_requests(module: dict[str, list[Any]]) -> None:
    policies = resources(module, "aws_appautoscaling_policy")
    metrics = {
        value(
            block(
                block(body, "target_tracking_scaling_policy_configuration"),
                "predefined_metric_specification",
            ),
            "predefined_metric_type",
        )
        for body in policies.values()
    }
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}


def test_alarms_watch_errors_latency_and_health(module: dict[str, list[Any]]) -> None:
    alarms = resources(module, "aws_cloudwatch_metric_alarm")
    watched = {
        str(value(body, "metric_name")) + str(body.get("metric_query", ""))
        for body in alarms.values()
    }
    for metric in (
        "HTTPCode_Target_5XX_Count",
        "RequestCount",
        "TargetResponseTime",
        "UnHealthyHostCount",
    ):
        assert any(metric in entry for entry in watched), metric
    assert value(alarms["latency_p95"], "extended_statistic") == "p95"
    for name, body in alarms.items():
        assert value(body, "alarm_actions") == "${local.alarm_actions}", name
    topic = resource(module, "aws_sns_topic", "alarms")
    assert "aws_kms_key.this" in value(topic, "kms_master_key_id")


def test_load_balancer_is_https_only(module: dict[str, list[Any]]) -> None:
    balancer = resource(module, "aws_lb", "this")
    assert value(balancer, "drop_invalid_header_fields") is True
    assert value(balancer, "enable_deletion_protection") == "${var.deletion_protection}"
    assert value(block(balancer, "access_logs"), "enabled") is True
    https = resource(module, "aws_lb_listener", "https")
    assert value(https, "protocol") == "HTTPS"
    assert value(https, "ssl_policy").startswith("ELBSecurityPolicy-TLS13-")
    assert value(https, "certificate_arn") == "${var.certificate_arn}"
    http = resource(module, "aws_lb_listener", "http")
    redirect = block(block(http, "default_action"), "redirect")
    assert value(redirect, "protocol") == "HTTPS"
    assert value(redirect, "status_code") == "HTTP_301"
    access = resource(module, "aws_s3_bucket_public_access_block", "alb_logs")
    assert all(
        value(access, key) is True
        for key in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )


def test_registry_is_immutable_and_scanned(module: dict[str, list[Any]]) -> None:
    repository = resource(module, "aws_ecr_repository", "this")
    assert value(repository, "image_tag_mutability") == "IMMUTABLE"
    assert value(block(repository, "image_scanning_configuration"), "scan_on_push") is True
    assert resource(module, "aws_ecr_lifecycle_policy", "this")


def test_network_is_created_only_without_an_existing_vpc(module: dict[str, list[Any]]) -> None:
    variables = named(module, "variable")
    for name in ("vpc_id", "public_subnet_ids", "private_subnet_ids"):
        assert value(variables[name], "default") is None, name
    conditions = ("local.create_vpc", "local.zone_count", "local.nat_gateway_count")
    for resource_type in ("aws_vpc", "aws_nat_gateway", "aws_flow_log", "aws_subnet"):
        for name, body in resources(module, resource_type).items():
            count = str(value(body, "count"))
            assert any(c in count for c in conditions), f"{resource_type}.{name} is always created"


# --- data stores -------------------------------------------------------------------


def test_database_exists_only_with_the_database_gate(
    case: Answers, module: dict[str, list[Any]]
) -> None:
    instances = resources(module, "aws_db_instance")
    if case.get("database", "postgresql") == "none":
        assert instances == {}
        assert "database_address" not in named(module, "output")
        return
    database = instances["this"]
    assert value(database, "manage_master_user_password") is True
    assert value(database, "storage_encrypted") is True
    assert "aws_kms_key.this" in value(database, "kms_key_id")
    assert value(database, "publicly_accessible") is False
    assert value(database, "multi_az") == "${var.multi_az}"
    assert value(database, "deletion_protection") == "${var.deletion_protection}"
    assert value(database, "skip_final_snapshot") == "${!var.deletion_protection}"
    assert value(database, "performance_insights_enabled") is True
    assert "aws_kms_key.this" in value(database, "performance_insights_kms_key_id")
    parameters = resource(module, "aws_db_parameter_group", "this")["parameter"]
    assert {"rds.force_ssl": "1"}.items() <= {
        value(p, "name"): value(p, "value") for p in parameters
    }.items()


def test_cache_exists_only_with_the_guardrails(case: Answers, module: dict[str, list[Any]]) -> None:
    groups = resources(module, "aws_elasticache_replication_group")
    if not guarded(case):
        assert groups == {}
        assert "cache_primary_endpoint" not in named(module, "output")
        return
    cache = groups["this"]
    assert value(cache, "transit_encryption_enabled") is True
    assert value(cache, "at_rest_encryption_enabled") is True
    assert value(cache, "automatic_failover_enabled") == "${var.multi_az}"


# --- environments ------------------------------------------------------------------


def test_environments_lock_state_pin_versions_and_differ(
    roots: dict[str, dict[str, list[Any]]], infra: Path
) -> None:
    calls = {}
    for environment, parsed in roots.items():
        settings = parsed["terraform"][0]
        assert value(settings, "required_version").startswith("~>")
        providers = value(settings, "required_providers")
        assert value(providers, "aws")["version"].startswith("~>")
        backend = value(settings, "backend")["s3"]
        assert value(backend, "use_lockfile") is True
        assert value(backend, "encrypt") is True
        assert environment in value(backend, "key")
        assert (infra / "environments" / environment / "backend.hcl.example").is_file()
        assert (infra / "environments" / environment / "terraform.tfvars.example").is_file()

        variables = named(parsed, "variable")
        for name, body in variables.items():
            assert value(body, "description"), f"{environment}: variable {name}"
        for name in ("image", "aws_region", "aws_account_id", "certificate_arn"):
            assert "default" not in variables[name], f"{environment}: {name} must be required"
            assert variables[name].get("validation"), f"{environment}: {name} is not validated"
        calls[environment] = (named(parsed, "module")["service"], variables)

    production, production_variables = calls["production"]
    staging, staging_variables = calls["staging"]
    assert value(production, "deletion_protection") is True
    assert value(production, "multi_az") is True
    assert value(staging, "deletion_protection") is False
    assert value(production_variables["min_capacity"], "default") >= 2
    assert value(production_variables["min_capacity"], "default") > value(
        staging_variables["min_capacity"], "default"
    )
    for environment, (call, _) in calls.items():
        assert value(call, "environment") == environment
        assert value(call, "image") == "${var.image}"


def test_module_variables_are_described_and_validated(module: dict[str, list[Any]]) -> None:
    variables = named(module, "variable")
    for name, body in variables.items():
        assert value(body, "description"), f"variable {name} has no description"
        if value(body, "type") in {"${string}", "${number}", "string", "number"}:
            has_choices = body.get("validation") or value(body, "default") is None
            assert has_choices, f"variable {name} takes any value"
    settings = module["terraform"][0]
    assert value(value(settings, "required_providers"), "aws")["version"].startswith("~>")
