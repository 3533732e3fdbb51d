# Secret Manager secrets: Terraform creates the containers and lets the runtime
# identity read them; nothing here holds a value. Add each value once, out of
# band (docs: "Secrets"):
#   printf '%s' "$VALUE" | gcloud secrets versions add <secret id> --data-file=-
# Cloud Run reads the "latest" version when an instance starts.

resource "google_secret_manager_secret" "env" {
  for_each = local.secrets

  project   = var.project_id
  secret_id = "${var.name}-${each.value}"
  labels    = merge(local.labels, { variable = lower(each.key) })

  # Kept in the service's region only.
  replication {
    user_managed {
      replicas {
        location = var.region
      }
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_secret_manager_secret_iam_member" "runtime" {
  for_each = google_secret_manager_secret.env

  project   = var.project_id
  secret_id = each.value.secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = google_service_account.runtime.member
}
