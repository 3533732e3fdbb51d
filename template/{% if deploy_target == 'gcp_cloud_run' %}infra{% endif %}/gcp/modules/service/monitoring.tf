# Alerts on what callers feel: server errors, slow responses, instances that
# fail their probes, and /readyz failing from outside. Each one says what it
# means and what to do first; docs/delivery/gcp-cloud-run.md has the runbook.

locals {
  run_filter   = "resource.type = \"cloud_run_revision\" AND resource.labels.service_name = \"${var.name}\""
  service_host = trimprefix(google_cloud_run_v2_service.service.uri, "https://")
  # Probed from outside only when the service is public.
  uptime_check = var.allow_unauthenticated && var.ingress == "INGRESS_TRAFFIC_ALL"
}

resource "google_monitoring_alert_policy" "error_rate" {
  project               = var.project_id
  display_name          = "${var.name} (${var.environment}): 5xx responses"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "More than ${var.alert_error_ratio * 100}% of responses are 5xx for 5 minutes"

    condition_threshold {
      filter             = "${local.run_filter} AND metric.type = \"run.googleapis.com/request_count\" AND metric.labels.response_code_class = \"5xx\""
      denominator_filter = "${local.run_filter} AND metric.type = \"run.googleapis.com/request_count\""
      comparison         = "COMPARISON_GT"
      threshold_value    = var.alert_error_ratio
      duration           = "300s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      denominator_aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_RATE"
        cross_series_reducer = "REDUCE_SUM"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Server errors on ${var.name} (${var.environment}). Compare the revisions that serve
      traffic (`gcloud run services describe ${var.name} --region ${var.region}`): if a new
      revision started this, roll back with
      `gcloud run services update-traffic ${var.name} --region ${var.region} --to-revisions <previous revision>=100`.
      Otherwise read the canonical request log lines with status >= 500 and their error type,
      and /readyz for a failing dependency.
    EOT
  }
}

resource "google_monitoring_alert_policy" "latency" {
  project               = var.project_id
  display_name          = "${var.name} (${var.environment}): p95 latency"
  combiner              = "OR"
  severity              = "WARNING"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "p95 latency above ${var.alert_p95_latency_ms} ms for 5 minutes"

    condition_threshold {
      filter          = "${local.run_filter} AND metric.type = \"run.googleapis.com/request_latencies\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_p95_latency_ms
      duration        = "300s"

      aggregations {
        alignment_period     = "60s"
        per_series_aligner   = "ALIGN_DELTA"
        cross_series_reducer = "REDUCE_PERCENTILE_95"
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Slow responses on ${var.name} (${var.environment}). Check instance count against
      max_instances (saturation), CPU and concurrency, and the latency of the dependencies
      (database, Redis, LLM providers) in the request log. A new revision that is slower:
      roll back with `gcloud run services update-traffic ${var.name} --region ${var.region} --to-revisions <previous revision>=100`.
    EOT
  }
}

resource "google_monitoring_alert_policy" "probe_failures" {
  project               = var.project_id
  display_name          = "${var.name} (${var.environment}): instances failing probes"
  combiner              = "OR"
  severity              = "ERROR"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "Startup (/readyz) or liveness (/livez) probe failed"

    condition_matched_log {
      filter = "${local.run_filter} AND textPayload =~ \"(STARTUP|LIVENESS) (HTTP )?probe failed\""
    }
  }

  alert_strategy {
    auto_close = "1800s"

    notification_rate_limit {
      period = "300s"
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      Instances of ${var.name} (${var.environment}) fail their probes. A startup probe that
      fails means /readyz never answered 200: the service refused its configuration (read the
      instance's first log lines: `check-config` names every problem) or cannot reach a
      dependency. A liveness failure means /livez stopped answering: the process is stuck or
      out of memory. A new revision that fails to start never receives traffic; delete it or
      fix its configuration and deploy again.
    EOT
  }
}

resource "google_monitoring_uptime_check_config" "readyz" {
  count = local.uptime_check ? 1 : 0

  project      = var.project_id
  display_name = "${var.name} (${var.environment}) /readyz"
  timeout      = "10s"
  period       = "60s"

  http_check {
    path         = "/readyz"
    port         = 443
    use_ssl      = true
    validate_ssl = true

    accepted_response_status_codes {
      status_class = "STATUS_CLASS_2XX"
    }
  }

  monitored_resource {
    type = "uptime_url"
    labels = {
      project_id = var.project_id
      host       = local.service_host
    }
  }
}

resource "google_monitoring_alert_policy" "readyz" {
  count = local.uptime_check ? 1 : 0

  project               = var.project_id
  display_name          = "${var.name} (${var.environment}): /readyz failing"
  combiner              = "OR"
  severity              = "CRITICAL"
  notification_channels = var.notification_channels
  user_labels           = local.labels

  conditions {
    display_name = "/readyz fails from more than one checker region"

    condition_threshold {
      filter          = "metric.type = \"monitoring.googleapis.com/uptime_check/check_passed\" AND resource.type = \"uptime_url\" AND metric.labels.check_id = \"${google_monitoring_uptime_check_config.readyz[0].uptime_check_id}\""
      comparison      = "COMPARISON_GT"
      threshold_value = 1
      duration        = "120s"

      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_NEXT_OLDER"
        cross_series_reducer = "REDUCE_COUNT_FALSE"
        group_by_fields      = ["resource.labels.host"]
      }

      trigger {
        count = 1
      }
    }
  }

  alert_strategy {
    auto_close = "1800s"
  }

  documentation {
    mime_type = "text/markdown"
    content   = <<-EOT
      ${var.name} (${var.environment}) answers /readyz with an error or not at all, seen from
      several places. Call it yourself (`curl -sS https://${local.service_host}/readyz`): the
      body names each failing dependency. A dependency that is down: follow its own runbook
      (Cloud SQL, Memorystore, provider status). Every instance failing: roll back.
    EOT
  }
}
