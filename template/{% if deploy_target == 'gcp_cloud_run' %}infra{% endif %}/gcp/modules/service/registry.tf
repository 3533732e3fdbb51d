# The environment's image registry. Tags are immutable: a tag (the commit SHA)
# always names the image that was tested and deployed. The cleanup policy keeps
# the most recent images (rollback targets) and deletes the rest after 90 days.

resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84:Google-managed encryption at rest; images hold no secrets. Set kms_key_name to a Cloud KMS key when policy requires customer-managed keys.
  project       = var.project_id
  location      = var.region
  repository_id = var.name
  description   = "Container images of ${var.name}"
  format        = "DOCKER"
  labels        = local.labels

  docker_config {
    immutable_tags = true
  }

  cleanup_policy_dry_run = false

  cleanup_policies {
    id     = "keep-recent"
    action = "KEEP"

    most_recent_versions {
      keep_count = var.image_keep_count
    }
  }

  cleanup_policies {
    id     = "delete-untagged"
    action = "DELETE"

    condition {
      tag_state  = "UNTAGGED"
      older_than = "604800s"
    }
  }

  cleanup_policies {
    id     = "delete-old"
    action = "DELETE"

    condition {
      tag_state  = "ANY"
      older_than = "7776000s"
    }
  }

  depends_on = [google_project_service.apis]
}
