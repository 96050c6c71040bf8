# faas-dispatcher: shop on Google Cloud (Terraform).
# Generated from the task declarations of samples.shop:app by
#   dispatcher infra samples.shop:app --provider gcp --format terraform
# Do not edit by hand: change the declarations and regenerate.
#
# Deploy: `dispatcher package samples.shop:app --provider gcp` writes the
# receiver's build context; build and push its image, then
#   terraform apply -var stage=STAGE -var project=PROJECT -var region=REGION -var image=IMAGE
# Every resource name follows the stage (dev, prod...).
# Producers run as the enqueuer account with the environment of output "producer_environment".

terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0, < 8.0"
    }
  }
}

variable "project" {
  description = "Google Cloud project id to deploy to"
  type        = string
}

variable "region" {
  description = "Region of the queues, services and jobs"
  type        = string
  default     = "us-central1"
}

variable "stage" {
  description = "The deployment's stage (dev, prod...): every resource name and the services' DISPATCHER_STAGE follow it"
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$", var.stage))
    error_message = "The stage is 1 to 12 lower-case letters, digits and inner hyphens."
  }
}

variable "image" {
  description = "Container image of the receiver, built from `dispatcher package --provider gcp`"
  type        = string
}

provider "google" {
  project = var.project
  region  = var.region
}

data "google_project" "this" {
  project_id = var.project
}

locals {
  # The bucket name is global: the project and the region end it; above 63 characters, a hash
  # of it does (adapters.gcp.config.bucket_name computes the same name).
  bucket = length(local.bucket_full) <= 63 ? local.bucket_full : "${replace(substr(local.bucket_full, 0, 50), "/-+$/", "")}-${substr(sha256(local.bucket_full), 0, 12)}"
  # Cloud Run's deterministic URL of a service, known before the service exists.
  service_url = "https://{service}-${data.google_project.this.number}.${var.region}.run.app"
  # Service account ids have at most 30 characters: a longer one is cut and hashed.
  account_ids = {
    for key, name in local.account_names :
    key => length(name) <= 30 ? name : "${substr(name, 0, 21)}-${substr(sha256(name), 0, 8)}"
  }
}

locals {
  bucket_full = "shop-${var.stage}-dispatcher-${var.project}-${var.region}"
  account_names = {
    invoker                = "shop-${var.stage}-invoke"
    enqueuer               = "shop-${var.stage}-enqueue"
    inventory_identity     = "shop-${var.stage}-inventory-run"
    notifications_identity = "shop-${var.stage}-notifications-run"
    orders_identity        = "shop-${var.stage}-orders-run"
    payments_identity      = "shop-${var.stage}-payments-run"
    reports_identity       = "shop-${var.stage}-reports-run"
    shipping_identity      = "shop-${var.stage}-shipping-run"
  }
}

resource "google_service_account" "invoker" {
  account_id   = local.account_ids["invoker"]
  display_name = "shop: invokes its task services"
  description  = "Cloud Tasks and Cloud Scheduler sign their pushes as this account; it may only invoke the app's Cloud Run services"
}

resource "google_service_account" "enqueuer" {
  account_id   = local.account_ids["enqueuer"]
  display_name = "shop: sends tasks"
  description  = "For producers: may create tasks on the app's queues, hold dedup keys, store claim checks and read results"
}

resource "google_cloud_tasks_queue" "inventory" {
  # Tasks samples.shop.update_stock
  name     = "shop-${var.stage}-inventory"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 500.0
    max_concurrent_dispatches = 1
  }

  retry_config {
    max_attempts       = 8
    min_backoff        = "1s"
    max_backoff        = "600s"
    max_doublings      = 16
    max_retry_duration = "0s"
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }
}

resource "google_cloud_tasks_queue" "notifications" {
  # Tasks samples.shop.send_receipt
  name     = "shop-${var.stage}-notifications"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 50.0
    max_concurrent_dispatches = 1000
  }

  retry_config {
    max_attempts       = 8
    min_backoff        = "1s"
    max_backoff        = "600s"
    max_doublings      = 16
    max_retry_duration = "0s"
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }
}

resource "google_cloud_tasks_queue" "orders" {
  # Tasks samples.shop.place_order
  name     = "shop-${var.stage}-orders"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 500.0
    max_concurrent_dispatches = 1000
  }

  retry_config {
    max_attempts       = 8
    min_backoff        = "1s"
    max_backoff        = "600s"
    max_doublings      = 16
    max_retry_duration = "0s"
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }
}

resource "google_cloud_tasks_queue" "payments" {
  # Tasks samples.shop.charge
  name     = "shop-${var.stage}-payments"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 500.0
    max_concurrent_dispatches = 1000
  }

  retry_config {
    max_attempts       = 10
    min_backoff        = "1s"
    max_backoff        = "600s"
    max_doublings      = 16
    max_retry_duration = "0s"
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }
}

resource "google_cloud_tasks_queue" "reports" {
  # Tasks samples.shop.nightly_stock_report
  name     = "shop-${var.stage}-reports"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 500.0
    max_concurrent_dispatches = 1000
  }

  retry_config {
    max_attempts       = 8
    min_backoff        = "1s"
    max_backoff        = "600s"
    max_doublings      = 16
    max_retry_duration = "0s"
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }
}

resource "google_cloud_tasks_queue" "shipping" {
  # Tasks samples.shop.ship_order
  name     = "shop-${var.stage}-shipping"
  location = var.region

  rate_limits {
    max_dispatches_per_second = 500.0
    max_concurrent_dispatches = 1000
  }

  retry_config {
    max_attempts       = 8
    min_backoff        = "1s"
    max_backoff        = "600s"
    max_doublings      = 16
    max_retry_duration = "0s"
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }
}

resource "google_storage_bucket" "results" {
  # checkov:skip=CKV_GCP_62:holds transient task records that expire within days; access logs would outlive them
  # checkov:skip=CKV_GCP_78:records are rewritten on every state change and deleted when done; versions would keep every deleted claim check and lease
  # The app's bucket: results, claims, dedup holds, dead letters and claim checks
  name                        = local.bucket
  location                    = var.region
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"

  soft_delete_policy {
    retention_duration_seconds = 0
  }

  lifecycle_rule {
    # results and claims, as long as on AWS
    condition {
      age            = 7
      matches_prefix = ["results/"]
    }

    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    # dead letters, kept for replay
    condition {
      age            = 30
      matches_prefix = ["dead-letters/"]
    }

    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    # dedup holds, past the longest countdown
    condition {
      age            = 367
      matches_prefix = ["dedup/"]
    }

    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    # orphaned claim checks, past the longest countdown
    condition {
      age            = 367
      matches_prefix = ["payloads/"]
    }

    action {
      type = "Delete"
    }
  }
}

output "bucket" {
  description = "The app's bucket (DISPATCHER_GCP_BUCKET)"
  value       = google_storage_bucket.results.name
}

resource "google_service_account" "inventory_identity" {
  account_id   = local.account_ids["inventory_identity"]
  display_name = "shop: runs queue inventory"
  description  = "The identity of the inventory service"
}

resource "google_cloud_tasks_queue_iam_member" "inventory_identity_send" {
  for_each = {
    inventory     = google_cloud_tasks_queue.inventory.name
    notifications = google_cloud_tasks_queue.notifications.name
    orders        = google_cloud_tasks_queue.orders.name
    payments      = google_cloud_tasks_queue.payments.name
    reports       = google_cloud_tasks_queue.reports.name
    shipping      = google_cloud_tasks_queue.shipping.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.inventory_identity.email}"
}

resource "google_cloud_tasks_queue_iam_member" "inventory_identity_read" {
  for_each = {
    inventory = google_cloud_tasks_queue.inventory.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.viewer"
  member   = "serviceAccount:${google_service_account.inventory_identity.email}"
}

resource "google_storage_bucket_iam_member" "inventory_identity_objects" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.inventory_identity.email}"
}

resource "google_service_account_iam_member" "inventory_identity_as_invoker" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.inventory_identity.email}"
}

resource "google_cloud_run_v2_service" "inventory_worker" {
  # Runs the tasks of queue inventory: samples.shop.update_stock
  name                = "shop-${var.stage}-inventory-worker"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false
  custom_audiences    = [replace(local.service_url, "{service}", "shop-${var.stage}-inventory-worker")]

  template {
    service_account                  = google_service_account.inventory_identity.email
    timeout                          = "25s"
    max_instance_request_concurrency = 1
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN1"

    scaling {
      min_instance_count = 0
      max_instance_count = 1
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "256Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "DISPATCHER_APP"
        value = "samples.shop:app"
      }

      env {
        name  = "DISPATCHER_BACKEND"
        value = "gcp://${var.project}/${var.region}"
      }

      env {
        name  = "DISPATCHER_STAGE"
        value = var.stage
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_URL"
        value = local.service_url
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_ACCOUNT"
        value = google_service_account.invoker.email
      }

      env {
        name  = "DISPATCHER_GCP_BUCKET"
        value = local.bucket
      }

      env {
        name  = "DISPATCHER_GCP_CONCURRENCY"
        value = "1"
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "inventory_worker_invoker" {
  name     = google_cloud_run_v2_service.inventory_worker.name
  location = google_cloud_run_v2_service.inventory_worker.location
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

resource "google_service_account" "notifications_identity" {
  account_id   = local.account_ids["notifications_identity"]
  display_name = "shop: runs queue notifications"
  description  = "The identity of the notifications service"
}

resource "google_cloud_tasks_queue_iam_member" "notifications_identity_send" {
  for_each = {
    inventory     = google_cloud_tasks_queue.inventory.name
    notifications = google_cloud_tasks_queue.notifications.name
    orders        = google_cloud_tasks_queue.orders.name
    payments      = google_cloud_tasks_queue.payments.name
    reports       = google_cloud_tasks_queue.reports.name
    shipping      = google_cloud_tasks_queue.shipping.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.notifications_identity.email}"
}

resource "google_cloud_tasks_queue_iam_member" "notifications_identity_read" {
  for_each = {
    notifications = google_cloud_tasks_queue.notifications.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.viewer"
  member   = "serviceAccount:${google_service_account.notifications_identity.email}"
}

resource "google_storage_bucket_iam_member" "notifications_identity_objects" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.notifications_identity.email}"
}

resource "google_service_account_iam_member" "notifications_identity_as_invoker" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.notifications_identity.email}"
}

resource "google_cloud_run_v2_service" "notifications_worker" {
  # Runs the tasks of queue notifications: samples.shop.send_receipt
  name                = "shop-${var.stage}-notifications-worker"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false
  custom_audiences    = [replace(local.service_url, "{service}", "shop-${var.stage}-notifications-worker")]

  template {
    service_account                  = google_service_account.notifications_identity.email
    timeout                          = "20s"
    max_instance_request_concurrency = 40
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN1"

    scaling {
      min_instance_count = 0
      max_instance_count = 100
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "256Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "DISPATCHER_APP"
        value = "samples.shop:app"
      }

      env {
        name  = "DISPATCHER_BACKEND"
        value = "gcp://${var.project}/${var.region}"
      }

      env {
        name  = "DISPATCHER_STAGE"
        value = var.stage
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_URL"
        value = local.service_url
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_ACCOUNT"
        value = google_service_account.invoker.email
      }

      env {
        name  = "DISPATCHER_GCP_BUCKET"
        value = local.bucket
      }

      env {
        name  = "DISPATCHER_GCP_CONCURRENCY"
        value = "40"
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "notifications_worker_invoker" {
  name     = google_cloud_run_v2_service.notifications_worker.name
  location = google_cloud_run_v2_service.notifications_worker.location
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

resource "google_service_account" "orders_identity" {
  account_id   = local.account_ids["orders_identity"]
  display_name = "shop: runs queue orders"
  description  = "The identity of the orders service"
}

resource "google_cloud_tasks_queue_iam_member" "orders_identity_send" {
  for_each = {
    inventory     = google_cloud_tasks_queue.inventory.name
    notifications = google_cloud_tasks_queue.notifications.name
    orders        = google_cloud_tasks_queue.orders.name
    payments      = google_cloud_tasks_queue.payments.name
    reports       = google_cloud_tasks_queue.reports.name
    shipping      = google_cloud_tasks_queue.shipping.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.orders_identity.email}"
}

resource "google_cloud_tasks_queue_iam_member" "orders_identity_read" {
  for_each = {
    orders = google_cloud_tasks_queue.orders.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.viewer"
  member   = "serviceAccount:${google_service_account.orders_identity.email}"
}

resource "google_storage_bucket_iam_member" "orders_identity_objects" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.orders_identity.email}"
}

resource "google_service_account_iam_member" "orders_identity_as_invoker" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.orders_identity.email}"
}

resource "google_cloud_run_v2_service" "orders_worker" {
  # Runs the tasks of queue orders: samples.shop.place_order
  name                = "shop-${var.stage}-orders-worker"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false
  custom_audiences    = [replace(local.service_url, "{service}", "shop-${var.stage}-orders-worker")]

  template {
    service_account                  = google_service_account.orders_identity.email
    timeout                          = "40s"
    max_instance_request_concurrency = 40
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN1"

    scaling {
      min_instance_count = 0
      max_instance_count = 100
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "256Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "DISPATCHER_APP"
        value = "samples.shop:app"
      }

      env {
        name  = "DISPATCHER_BACKEND"
        value = "gcp://${var.project}/${var.region}"
      }

      env {
        name  = "DISPATCHER_STAGE"
        value = var.stage
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_URL"
        value = local.service_url
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_ACCOUNT"
        value = google_service_account.invoker.email
      }

      env {
        name  = "DISPATCHER_GCP_BUCKET"
        value = local.bucket
      }

      env {
        name  = "DISPATCHER_GCP_CONCURRENCY"
        value = "40"
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "orders_worker_invoker" {
  name     = google_cloud_run_v2_service.orders_worker.name
  location = google_cloud_run_v2_service.orders_worker.location
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

resource "google_service_account" "payments_identity" {
  account_id   = local.account_ids["payments_identity"]
  display_name = "shop: runs queue payments"
  description  = "The identity of the payments service"
}

resource "google_cloud_tasks_queue_iam_member" "payments_identity_send" {
  for_each = {
    inventory     = google_cloud_tasks_queue.inventory.name
    notifications = google_cloud_tasks_queue.notifications.name
    orders        = google_cloud_tasks_queue.orders.name
    payments      = google_cloud_tasks_queue.payments.name
    reports       = google_cloud_tasks_queue.reports.name
    shipping      = google_cloud_tasks_queue.shipping.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.payments_identity.email}"
}

resource "google_cloud_tasks_queue_iam_member" "payments_identity_read" {
  for_each = {
    payments = google_cloud_tasks_queue.payments.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.viewer"
  member   = "serviceAccount:${google_service_account.payments_identity.email}"
}

resource "google_storage_bucket_iam_member" "payments_identity_objects" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.payments_identity.email}"
}

resource "google_service_account_iam_member" "payments_identity_as_invoker" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.payments_identity.email}"
}

resource "google_cloud_run_v2_service" "payments_worker" {
  # Runs the tasks of queue payments: samples.shop.charge
  name                = "shop-${var.stage}-payments-worker"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false
  custom_audiences    = [replace(local.service_url, "{service}", "shop-${var.stage}-payments-worker")]

  template {
    service_account                  = google_service_account.payments_identity.email
    timeout                          = "40s"
    max_instance_request_concurrency = 40
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"

    scaling {
      min_instance_count = 0
      max_instance_count = 100
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "512Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "DISPATCHER_APP"
        value = "samples.shop:app"
      }

      env {
        name  = "DISPATCHER_BACKEND"
        value = "gcp://${var.project}/${var.region}"
      }

      env {
        name  = "DISPATCHER_STAGE"
        value = var.stage
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_URL"
        value = local.service_url
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_ACCOUNT"
        value = google_service_account.invoker.email
      }

      env {
        name  = "DISPATCHER_GCP_BUCKET"
        value = local.bucket
      }

      env {
        name  = "DISPATCHER_GCP_CONCURRENCY"
        value = "40"
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "payments_worker_invoker" {
  name     = google_cloud_run_v2_service.payments_worker.name
  location = google_cloud_run_v2_service.payments_worker.location
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

resource "google_service_account" "reports_identity" {
  account_id   = local.account_ids["reports_identity"]
  display_name = "shop: runs queue reports"
  description  = "The identity of the reports service"
}

resource "google_cloud_tasks_queue_iam_member" "reports_identity_send" {
  for_each = {
    inventory     = google_cloud_tasks_queue.inventory.name
    notifications = google_cloud_tasks_queue.notifications.name
    orders        = google_cloud_tasks_queue.orders.name
    payments      = google_cloud_tasks_queue.payments.name
    reports       = google_cloud_tasks_queue.reports.name
    shipping      = google_cloud_tasks_queue.shipping.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.reports_identity.email}"
}

resource "google_cloud_tasks_queue_iam_member" "reports_identity_read" {
  for_each = {
    reports = google_cloud_tasks_queue.reports.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.viewer"
  member   = "serviceAccount:${google_service_account.reports_identity.email}"
}

resource "google_storage_bucket_iam_member" "reports_identity_objects" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.reports_identity.email}"
}

resource "google_service_account_iam_member" "reports_identity_as_invoker" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.reports_identity.email}"
}

resource "google_cloud_run_v2_service" "reports_worker" {
  # Runs the tasks of queue reports: samples.shop.nightly_stock_report
  name                = "shop-${var.stage}-reports-worker"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false
  custom_audiences    = [replace(local.service_url, "{service}", "shop-${var.stage}-reports-worker")]

  template {
    service_account                  = google_service_account.reports_identity.email
    timeout                          = "130s"
    max_instance_request_concurrency = 40
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN1"

    scaling {
      min_instance_count = 0
      max_instance_count = 100
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "256Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "DISPATCHER_APP"
        value = "samples.shop:app"
      }

      env {
        name  = "DISPATCHER_BACKEND"
        value = "gcp://${var.project}/${var.region}"
      }

      env {
        name  = "DISPATCHER_STAGE"
        value = var.stage
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_URL"
        value = local.service_url
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_ACCOUNT"
        value = google_service_account.invoker.email
      }

      env {
        name  = "DISPATCHER_GCP_BUCKET"
        value = local.bucket
      }

      env {
        name  = "DISPATCHER_GCP_CONCURRENCY"
        value = "40"
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "reports_worker_invoker" {
  name     = google_cloud_run_v2_service.reports_worker.name
  location = google_cloud_run_v2_service.reports_worker.location
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

resource "google_cloud_scheduler_job" "nightly_stock_report_schedule" {
  name             = "shop-${var.stage}-nightly-stock-report-schedule"
  description      = "Runs samples.shop.nightly_stock_report on '0 3 * * *' (UTC)"
  region           = var.region
  schedule         = "0 3 * * *"
  time_zone        = "Etc/UTC"
  attempt_deadline = "60s"

  retry_config {
    retry_count = 3
  }

  http_target {
    http_method = "POST"
    uri         = "${replace(local.service_url, "{service}", google_cloud_run_v2_service.reports_worker.name)}/schedules/samples.shop.nightly_stock_report"

    oidc_token {
      service_account_email = google_service_account.invoker.email
      audience              = replace(local.service_url, "{service}", google_cloud_run_v2_service.reports_worker.name)
    }
  }
}

resource "google_service_account" "shipping_identity" {
  account_id   = local.account_ids["shipping_identity"]
  display_name = "shop: runs queue shipping"
  description  = "The identity of the shipping service"
}

resource "google_cloud_tasks_queue_iam_member" "shipping_identity_send" {
  for_each = {
    inventory     = google_cloud_tasks_queue.inventory.name
    notifications = google_cloud_tasks_queue.notifications.name
    orders        = google_cloud_tasks_queue.orders.name
    payments      = google_cloud_tasks_queue.payments.name
    reports       = google_cloud_tasks_queue.reports.name
    shipping      = google_cloud_tasks_queue.shipping.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.shipping_identity.email}"
}

resource "google_cloud_tasks_queue_iam_member" "shipping_identity_read" {
  for_each = {
    shipping = google_cloud_tasks_queue.shipping.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.viewer"
  member   = "serviceAccount:${google_service_account.shipping_identity.email}"
}

resource "google_storage_bucket_iam_member" "shipping_identity_objects" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.shipping_identity.email}"
}

resource "google_service_account_iam_member" "shipping_identity_as_invoker" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.shipping_identity.email}"
}

resource "google_cloud_run_v2_service" "shipping_worker" {
  # Runs the tasks of queue shipping: samples.shop.ship_order
  name                = "shop-${var.stage}-shipping-worker"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = false
  custom_audiences    = [replace(local.service_url, "{service}", "shop-${var.stage}-shipping-worker")]

  template {
    service_account                  = google_service_account.shipping_identity.email
    timeout                          = "70s"
    max_instance_request_concurrency = 40
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN1"

    scaling {
      min_instance_count = 0
      max_instance_count = 100
    }

    containers {
      image = var.image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "256Mi"
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "DISPATCHER_APP"
        value = "samples.shop:app"
      }

      env {
        name  = "DISPATCHER_BACKEND"
        value = "gcp://${var.project}/${var.region}"
      }

      env {
        name  = "DISPATCHER_STAGE"
        value = var.stage
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_URL"
        value = local.service_url
      }

      env {
        name  = "DISPATCHER_GCP_SERVICE_ACCOUNT"
        value = google_service_account.invoker.email
      }

      env {
        name  = "DISPATCHER_GCP_BUCKET"
        value = local.bucket
      }

      env {
        name  = "DISPATCHER_GCP_CONCURRENCY"
        value = "40"
      }
    }
  }
}

resource "google_cloud_run_v2_service_iam_member" "shipping_worker_invoker" {
  name     = google_cloud_run_v2_service.shipping_worker.name
  location = google_cloud_run_v2_service.shipping_worker.location
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

resource "google_cloud_tasks_queue_iam_member" "enqueuer_send" {
  for_each = {
    inventory     = google_cloud_tasks_queue.inventory.name
    notifications = google_cloud_tasks_queue.notifications.name
    orders        = google_cloud_tasks_queue.orders.name
    payments      = google_cloud_tasks_queue.payments.name
    reports       = google_cloud_tasks_queue.reports.name
    shipping      = google_cloud_tasks_queue.shipping.name
  }
  name     = each.value
  location = var.region
  role     = "roles/cloudtasks.enqueuer"
  member   = "serviceAccount:${google_service_account.enqueuer.email}"
}

resource "google_service_account_iam_member" "enqueuer_as_invoker" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.enqueuer.email}"
}

resource "google_storage_bucket_iam_member" "enqueuer_holds" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.enqueuer.email}"

  condition {
    title      = "dedup holds and claim checks only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.results.name}/objects/dedup/\") || resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.results.name}/objects/payloads/\")"
  }
}

resource "google_storage_bucket_iam_member" "enqueuer_results" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.enqueuer.email}"

  condition {
    title      = "results only"
    expression = "resource.name.startsWith(\"projects/_/buckets/${google_storage_bucket.results.name}/objects/results/\")"
  }
}

output "producer_environment" {
  description = "The environment of a producer (run it as the enqueuer account)"
  value = {
    DISPATCHER_BACKEND             = "gcp://${var.project}/${var.region}"
    DISPATCHER_STAGE               = var.stage
    DISPATCHER_GCP_SERVICE_URL     = local.service_url
    DISPATCHER_GCP_SERVICE_ACCOUNT = google_service_account.invoker.email
    DISPATCHER_GCP_BUCKET          = local.bucket
  }
}

output "producer_account" {
  description = "The service account producers run as"
  value       = google_service_account.enqueuer.email
}
