# Names, limits and derived timings shared by every file of the module.

data "aws_caller_identity" "current" {}

data "aws_region" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.region
  partition  = data.aws_partition.current.partition

  # Load balancer and target group names hold at most 32 characters, cache ids 40.
  short_name = length(var.name) <= 28 ? var.name : "${trimsuffix(substr(var.name, 0, 21), "-")}-${substr(sha1(var.name), 0, 6)}"

  container_name = "app"

  # Every IAM role of this deployment lives under its own path, so the deploy
  # role can be allowed to manage (and pass) exactly these roles.
  iam_path = "/${var.name}/"

  # Shutdown of a task, in order: ECS deregisters it from the target group and
  # waits `deregistration_delay` while in-flight requests finish (no new ones
  # arrive), then sends SIGTERM. The service answers 503 on /readyz for
  # drain_seconds, then lets requests finish for up to graceful_timeout_seconds.
  # SIGKILL follows after `stop_timeout` (Fargate allows at most 120 seconds).
  deregistration_delay = var.drain_seconds + var.graceful_timeout_seconds + 5
  stop_timeout         = var.drain_seconds + var.graceful_timeout_seconds + 10
}
