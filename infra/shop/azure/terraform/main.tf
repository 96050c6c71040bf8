# faas-dispatcher: shop on Azure (Terraform).
# Generated from the task declarations of samples.shop:app by
#   dispatcher infra samples.shop:app --provider azure --format terraform
# Do not edit by hand: change the declarations and regenerate.
#
# One Function App (Flex Consumption, Linux, Python) serves every task queue; its
# function_app.py and host.json come from
#   dispatcher package samples.shop:app --provider azure
# Deploy: terraform apply [-var stage=dev] [-var producer_principal_id=OBJECT_ID], then
# publish the package folder to the Function App of output "function_app" (see infra/README.md).
#
# Functions:
#   queue_notifications: task queue notifications (samples.shop.send_receipt)
#   queue_orders: task queue orders (samples.shop.place_order)
#   queue_payments: task queue payments (samples.shop.charge)
#   queue_reports: task queue reports (samples.shop.nightly_stock_report)
#   queue_shipping: task queue shipping (samples.shop.ship_order)
#   schedule_samples_shop_nightly_stock_report: sends samples.shop.nightly_stock_report on "0 0 3 * * *" (NCRONTAB, UTC)
#
# Warnings:
#   task queue inventory: not deployed: ordered (group_by), but Azure Storage Queues deliver in no particular order; its tasks cannot be sent on Azure
#   task samples.shop.send_receipt: rate_limit 50/s is not honoured on Azure: the Functions host has no rate setting

terraform {
  required_version = ">= 1.5"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 4.46, < 5.0"
    }
  }
}

variable "location" {
  description = "Azure region of every resource (one that offers the Flex Consumption plan)"
  type        = string
  default     = "eastus"
}

variable "stage" {
  description = "Deployment stage (dev, prod...), part of every name; empty for none"
  type        = string
  default     = ""

  validation {
    condition     = var.stage == "" || can(regex("^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$", var.stage))
    error_message = "The stage is empty or 1 to 12 lower-case letters, digits and inner hyphens."
  }
}

variable "storage_replication" {
  description = "Replication of the storage account (ZRS keeps a copy in each zone of the region)"
  type        = string
  default     = "ZRS"

  validation {
    condition     = contains(["LRS", "ZRS", "GRS", "RAGRS", "GZRS", "RAGZRS"], var.storage_replication)
    error_message = "The replication is one of LRS, ZRS, GRS, RAGRS, GZRS and RAGZRS."
  }
}

variable "producer_principal_id" {
  description = "Object id of the Entra principal that sends tasks (gets the producer roles); empty for none"
  type        = string
  default     = ""
}

provider "azurerm" {
  features {}
  # The storage account takes no shared keys: Terraform reaches it with its Entra identity.
  storage_use_azuread = true
}

data "azurerm_client_config" "current" {}

locals {
  # Every name starts with the app's name and the stage (DISPATCHER_STAGE at run time).
  prefix = var.stage == "" ? "shop" : "shop-${var.stage}"
  # Tables and storage accounts take letters and digits only.
  compact = replace(local.prefix, "-", "")
  # Storage account and Function App names are global: a hash of the subscription and the
  # prefix ends them, within 24 characters (a storage account) and 32 (a Function App's host id).
  unique          = substr(sha256("${data.azurerm_client_config.current.subscription_id}/${local.prefix}"), 0, 8)
  storage_account = "${substr(local.compact, 0, 16)}${local.unique}"
  function_app    = "${replace(substr(local.prefix, 0, 23), "/-+$/", "")}-${local.unique}"
}

resource "azurerm_resource_group" "group" {
  name     = "${local.prefix}-rg"
  location = var.location
}

output "resource_group" {
  description = "The resource group of the app"
  value       = azurerm_resource_group.group.name
}

resource "azurerm_storage_account" "storage" {
  # checkov:skip=CKV_AZURE_33:classic Storage Analytics logging writes to the account's own $logs container, which nothing reads; diagnostic settings to the Log Analytics workspace are the deployer's choice (and cost per GB)
  # checkov:skip=CKV_AZURE_59:the Function App reaches its queues over the public endpoint (no virtual network); every request must be signed by an Entra identity, shared keys are disabled
  # checkov:skip=CKV2_AZURE_33:no private endpoint: the Function App runs without a virtual network
  # checkov:skip=CKV2_AZURE_1:encrypted with Microsoft-managed keys; a customer key is the deployer's choice
  # checkov:skip=CKV_AZURE_206:the default ZRS keeps copies in three zones of the region; geo-redundant replication is the variable storage_replication
  name                            = local.storage_account
  resource_group_name             = azurerm_resource_group.group.name
  location                        = azurerm_resource_group.group.location
  account_kind                    = "StorageV2"
  account_tier                    = "Standard"
  account_replication_type        = var.storage_replication
  min_tls_version                 = "TLS1_2"
  https_traffic_only_enabled      = true
  shared_access_key_enabled       = false
  default_to_oauth_authentication = true
  allow_nested_items_to_be_public = false
  local_user_enabled              = false

  blob_properties {
    last_access_time_enabled = true

    delete_retention_policy {
      days = 7
    }

    container_delete_retention_policy {
      days = 7
    }
  }

  sas_policy {
    expiration_period = "00.01:00:00"
    expiration_action = "Log"
  }
}

output "storage_account" {
  description = "The storage account of the queues, the results table and the containers"
  value       = azurerm_storage_account.storage.name
}

resource "azurerm_storage_queue" "notifications_poison" {
  name               = "${local.prefix}-notifications-poison"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_queue" "notifications" {
  name               = "${local.prefix}-notifications"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_queue" "orders_poison" {
  name               = "${local.prefix}-orders-poison"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_queue" "orders" {
  name               = "${local.prefix}-orders"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_queue" "payments_poison" {
  name               = "${local.prefix}-payments-poison"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_queue" "payments" {
  name               = "${local.prefix}-payments"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_queue" "reports_poison" {
  name               = "${local.prefix}-reports-poison"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_queue" "reports" {
  name               = "${local.prefix}-reports"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_queue" "shipping_poison" {
  name               = "${local.prefix}-shipping-poison"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_queue" "shipping" {
  name               = "${local.prefix}-shipping"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_table" "results" {
  # checkov:skip=CKV2_AZURE_20:the check asks for Log Analytics storage insights, which read the account with its key; the account has no shared keys
  name               = "${local.compact}results"
  storage_account_id = azurerm_storage_account.storage.id
}

resource "azurerm_storage_container" "claim_checks" {
  # Holds message bodies too large for a queue (claim checks).
  # checkov:skip=CKV2_AZURE_21:the check asks for Log Analytics storage insights, which read the account with its key; the account has no shared keys
  name                  = "${local.prefix}-claim-checks"
  storage_account_id    = azurerm_storage_account.storage.id
  container_access_type = "private"
}

resource "azurerm_storage_container" "package" {
  # Holds the Function App's deployment package.
  # checkov:skip=CKV2_AZURE_21:the check asks for Log Analytics storage insights, which read the account with its key; the account has no shared keys
  name                  = "${local.prefix}-package"
  storage_account_id    = azurerm_storage_account.storage.id
  container_access_type = "private"
}

resource "azurerm_storage_container" "webjobs_hosts" {
  # Holds the Functions host's locks and timer schedules.
  # checkov:skip=CKV2_AZURE_21:the check asks for Log Analytics storage insights, which read the account with its key; the account has no shared keys
  name                  = "azure-webjobs-hosts"
  storage_account_id    = azurerm_storage_account.storage.id
  container_access_type = "private"
}

resource "azurerm_storage_container" "webjobs_secrets" {
  # Holds the Functions host's keys.
  # checkov:skip=CKV2_AZURE_21:the check asks for Log Analytics storage insights, which read the account with its key; the account has no shared keys
  name                  = "azure-webjobs-secrets"
  storage_account_id    = azurerm_storage_account.storage.id
  container_access_type = "private"
}

resource "azurerm_storage_management_policy" "lifecycle" {
  storage_account_id = azurerm_storage_account.storage.id

  rule {
    name    = "expire-claim-checks"
    enabled = true

    filters {
      blob_types   = ["blockBlob"]
      prefix_match = ["${azurerm_storage_container.claim_checks.name}/"]
    }

    actions {
      base_blob {
        delete_after_days_since_last_access_time_greater_than = 30
      }
    }
  }
}

resource "azurerm_user_assigned_identity" "identity" {
  name                = "${local.prefix}-identity"
  resource_group_name = azurerm_resource_group.group.name
  location            = azurerm_resource_group.group.location
}

resource "azurerm_log_analytics_workspace" "logs" {
  name                = "${local.prefix}-logs"
  resource_group_name = azurerm_resource_group.group.name
  location            = azurerm_resource_group.group.location
  sku                 = "PerGB2018"
  retention_in_days   = 30
}

resource "azurerm_application_insights" "insights" {
  name                          = "${local.prefix}-insights"
  resource_group_name           = azurerm_resource_group.group.name
  location                      = azurerm_resource_group.group.location
  workspace_id                  = azurerm_log_analytics_workspace.logs.id
  application_type              = "other"
  local_authentication_disabled = true
}

resource "azurerm_role_assignment" "notifications_queue_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.notifications.name}"
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "its function takes the messages; every function may send to it"
}

resource "azurerm_role_assignment" "orders_queue_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.orders.name}"
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "its function takes the messages; every function may send to it"
}

resource "azurerm_role_assignment" "payments_queue_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.payments.name}"
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "its function takes the messages; every function may send to it"
}

resource "azurerm_role_assignment" "reports_queue_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.reports.name}"
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "its function takes the messages; every function may send to it"
}

resource "azurerm_role_assignment" "shipping_queue_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.shipping.name}"
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "its function takes the messages; every function may send to it"
}

resource "azurerm_role_assignment" "results_table_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/tableServices/default/tables/${azurerm_storage_table.results.name}"
  role_definition_name = "Storage Table Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "results, idempotency claims, dedup holds, dead-letter reasons"
}

resource "azurerm_role_assignment" "claim_checks_blob_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/blobServices/default/containers/${azurerm_storage_container.claim_checks.name}"
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "claim checks: large message bodies, written, read and deleted"
}

resource "azurerm_role_assignment" "insights_monitoring_metrics_publisher" {
  scope                = azurerm_application_insights.insights.id
  role_definition_name = "Monitoring Metrics Publisher"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "the Function App sends its logs and metrics"
}

resource "azurerm_role_assignment" "notifications_poison_queue_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.notifications_poison.name}"
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "the runtime and the Functions host move poison messages there"
}

resource "azurerm_role_assignment" "orders_poison_queue_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.orders_poison.name}"
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "the runtime and the Functions host move poison messages there"
}

resource "azurerm_role_assignment" "payments_poison_queue_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.payments_poison.name}"
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "the runtime and the Functions host move poison messages there"
}

resource "azurerm_role_assignment" "reports_poison_queue_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.reports_poison.name}"
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "the runtime and the Functions host move poison messages there"
}

resource "azurerm_role_assignment" "shipping_poison_queue_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.shipping_poison.name}"
  role_definition_name = "Storage Queue Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "the runtime and the Functions host move poison messages there"
}

resource "azurerm_role_assignment" "webjobs_hosts_blob_owner" {
  scope                = "${azurerm_storage_account.storage.id}/blobServices/default/containers/${azurerm_storage_container.webjobs_hosts.name}"
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "the Functions host keeps its locks and timer schedules there"
}

resource "azurerm_role_assignment" "webjobs_secrets_blob_owner" {
  scope                = "${azurerm_storage_account.storage.id}/blobServices/default/containers/${azurerm_storage_container.webjobs_secrets.name}"
  role_definition_name = "Storage Blob Data Owner"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "the Functions host keeps its keys there"
}

resource "azurerm_role_assignment" "package_blob_contributor" {
  scope                = "${azurerm_storage_account.storage.id}/blobServices/default/containers/${azurerm_storage_container.package.name}"
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = azurerm_user_assigned_identity.identity.principal_id
  principal_type       = "ServicePrincipal"
  description          = "the Function App reads its deployment package"
}

resource "azurerm_role_assignment" "producer_notifications_queue_message_sender" {
  count                = var.producer_principal_id == "" ? 0 : 1
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.notifications.name}"
  role_definition_name = "Storage Queue Data Message Sender"
  principal_id         = var.producer_principal_id
  description          = "A producer sends tasks to the queue"
}

resource "azurerm_role_assignment" "producer_orders_queue_message_sender" {
  count                = var.producer_principal_id == "" ? 0 : 1
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.orders.name}"
  role_definition_name = "Storage Queue Data Message Sender"
  principal_id         = var.producer_principal_id
  description          = "A producer sends tasks to the queue"
}

resource "azurerm_role_assignment" "producer_payments_queue_message_sender" {
  count                = var.producer_principal_id == "" ? 0 : 1
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.payments.name}"
  role_definition_name = "Storage Queue Data Message Sender"
  principal_id         = var.producer_principal_id
  description          = "A producer sends tasks to the queue"
}

resource "azurerm_role_assignment" "producer_reports_queue_message_sender" {
  count                = var.producer_principal_id == "" ? 0 : 1
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.reports.name}"
  role_definition_name = "Storage Queue Data Message Sender"
  principal_id         = var.producer_principal_id
  description          = "A producer sends tasks to the queue"
}

resource "azurerm_role_assignment" "producer_shipping_queue_message_sender" {
  count                = var.producer_principal_id == "" ? 0 : 1
  scope                = "${azurerm_storage_account.storage.id}/queueServices/default/queues/${azurerm_storage_queue.shipping.name}"
  role_definition_name = "Storage Queue Data Message Sender"
  principal_id         = var.producer_principal_id
  description          = "A producer sends tasks to the queue"
}

resource "azurerm_role_assignment" "producer_results_table_contributor" {
  count                = var.producer_principal_id == "" ? 0 : 1
  scope                = "${azurerm_storage_account.storage.id}/tableServices/default/tables/${azurerm_storage_table.results.name}"
  role_definition_name = "Storage Table Data Contributor"
  principal_id         = var.producer_principal_id
  description          = "A producer holds dedup keys and reads results"
}

resource "azurerm_role_assignment" "producer_claim_checks_blob_contributor" {
  count                = var.producer_principal_id == "" ? 0 : 1
  scope                = "${azurerm_storage_account.storage.id}/blobServices/default/containers/${azurerm_storage_container.claim_checks.name}"
  role_definition_name = "Storage Blob Data Contributor"
  principal_id         = var.producer_principal_id
  description          = "A producer stores the bodies too large for a queue"
}

resource "azurerm_service_plan" "plan" {
  # checkov:skip=CKV_AZURE_212:a Flex Consumption plan has no fixed workers: instances are added per function as messages arrive
  # checkov:skip=CKV_AZURE_225:zone redundancy of a Flex Consumption app needs a region that offers it: the deployer's choice
  name                = "${local.prefix}-plan"
  resource_group_name = azurerm_resource_group.group.name
  location            = azurerm_resource_group.group.location
  os_type             = "Linux"
  sku_name            = "FC1"
}

resource "azurerm_function_app_flex_consumption" "functions" {
  name                                           = local.function_app
  resource_group_name                            = azurerm_resource_group.group.name
  location                                       = azurerm_resource_group.group.location
  service_plan_id                                = azurerm_service_plan.plan.id
  storage_container_type                         = "blobContainer"
  storage_container_endpoint                     = "${azurerm_storage_account.storage.primary_blob_endpoint}${azurerm_storage_container.package.name}"
  storage_authentication_type                    = "UserAssignedIdentity"
  storage_user_assigned_identity_id              = azurerm_user_assigned_identity.identity.id
  runtime_name                                   = "python"
  runtime_version                                = "3.11"
  instance_memory_in_mb                          = 2048
  maximum_instance_count                         = 100
  https_only                                     = true
  webdeploy_publish_basic_authentication_enabled = false

  identity {
    type         = "UserAssigned"
    identity_ids = [azurerm_user_assigned_identity.identity.id]
  }

  site_config {
    application_insights_connection_string = azurerm_application_insights.insights.connection_string
  }
  app_settings = {
    AzureWebJobsStorage__accountName          = azurerm_storage_account.storage.name
    AzureWebJobsStorage__credential           = "managedidentity"
    AzureWebJobsStorage__clientId             = azurerm_user_assigned_identity.identity.client_id
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING = "ClientId=${azurerm_user_assigned_identity.identity.client_id};Authorization=AAD"
    DISPATCHER_STAGE                          = var.stage
  }
  depends_on = [azurerm_role_assignment.notifications_queue_contributor, azurerm_role_assignment.orders_queue_contributor, azurerm_role_assignment.payments_queue_contributor, azurerm_role_assignment.reports_queue_contributor, azurerm_role_assignment.shipping_queue_contributor, azurerm_role_assignment.results_table_contributor, azurerm_role_assignment.claim_checks_blob_contributor, azurerm_role_assignment.insights_monitoring_metrics_publisher, azurerm_role_assignment.notifications_poison_queue_contributor, azurerm_role_assignment.orders_poison_queue_contributor, azurerm_role_assignment.payments_poison_queue_contributor, azurerm_role_assignment.reports_poison_queue_contributor, azurerm_role_assignment.shipping_poison_queue_contributor, azurerm_role_assignment.webjobs_hosts_blob_owner, azurerm_role_assignment.webjobs_secrets_blob_owner, azurerm_role_assignment.package_blob_contributor]
}

output "function_app" {
  description = "The Function App to publish the package to"
  value       = azurerm_function_app_flex_consumption.functions.name
}

output "producer_environment" {
  description = "What a producer's environment needs (it signs in as producer_principal_id)"
  value = {
    DISPATCHER_BACKEND = "azure://${azurerm_storage_account.storage.name}"
    DISPATCHER_STAGE   = var.stage
  }
}
