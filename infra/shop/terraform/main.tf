# faas-dispatcher: shop on AWS (Terraform).
# Generated from the task declarations of samples.shop:app by
#   dispatcher infra samples.shop:app --format terraform
# Do not edit by hand: change the declarations and regenerate.
#
# Deploy: `dispatcher package samples.shop:app`, then
#   terraform apply -var stage=STAGE -var lambda_package=PATH/TO/shop-lambda.zip
# Every resource name follows the stage (dev, prod...). Producers attach the
# producers_policy_arn output and set DISPATCHER_STAGE, DISPATCHER_AWS_SCHEDULER_GROUP and
# DISPATCHER_AWS_SCHEDULER_ROLE from the outputs.

terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40, < 6.0"
    }
  }
}

variable "region" {
  description = "AWS region to deploy to"
  type        = string
  default     = "us-east-1"
}

variable "stage" {
  description = "The deployment's stage (dev, prod...): every resource name and the functions' DISPATCHER_STAGE follow it"
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$", var.stage))
    error_message = "The stage is 1 to 12 lower-case letters, digits and inner hyphens."
  }
}

variable "lambda_package" {
  description = "Path of the zip built by `dispatcher package`"
  type        = string
}

provider "aws" {
  region = var.region
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

resource "aws_sqs_queue" "inventory_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                        = "shop-${var.stage}-inventory-dlq.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  message_retention_seconds   = 1209600
  sqs_managed_sse_enabled     = true
}

resource "aws_sqs_queue" "inventory" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                        = "shop-${var.stage}-inventory.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  visibility_timeout_seconds  = 960
  message_retention_seconds   = 345600
  sqs_managed_sse_enabled     = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.inventory_dlq.arn
    maxReceiveCount     = 8
  })
}

output "inventory_queue_url" {
  description = "URL of the SQS queue of task queue inventory"
  value       = aws_sqs_queue.inventory.url
}

resource "aws_sqs_queue" "notifications_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                      = "shop-${var.stage}-notifications-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "notifications" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                       = "shop-${var.stage}-notifications"
  visibility_timeout_seconds = 660
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.notifications_dlq.arn
    maxReceiveCount     = 8
  })
}

output "notifications_queue_url" {
  description = "URL of the SQS queue of task queue notifications"
  value       = aws_sqs_queue.notifications.url
}

resource "aws_sqs_queue" "orders_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                      = "shop-${var.stage}-orders-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "orders" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                       = "shop-${var.stage}-orders"
  visibility_timeout_seconds = 1860
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.orders_dlq.arn
    maxReceiveCount     = 8
  })
}

output "orders_queue_url" {
  description = "URL of the SQS queue of task queue orders"
  value       = aws_sqs_queue.orders.url
}

resource "aws_sqs_queue" "payments_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                      = "shop-${var.stage}-payments-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "payments" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                       = "shop-${var.stage}-payments"
  visibility_timeout_seconds = 1860
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.payments_dlq.arn
    maxReceiveCount     = 10
  })
}

output "payments_queue_url" {
  description = "URL of the SQS queue of task queue payments"
  value       = aws_sqs_queue.payments.url
}

resource "aws_sqs_queue" "reports_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                      = "shop-${var.stage}-reports-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "reports" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                       = "shop-${var.stage}-reports"
  visibility_timeout_seconds = 5100
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.reports_dlq.arn
    maxReceiveCount     = 8
  })
}

output "reports_queue_url" {
  description = "URL of the SQS queue of task queue reports"
  value       = aws_sqs_queue.reports.url
}

data "aws_iam_policy_document" "reports_schedules" {
  statement {
    sid       = "ScheduleNightlyStockReportSchedule"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.reports.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.nightly_stock_report_schedule.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "reports" {
  queue_url = aws_sqs_queue.reports.id
  policy    = data.aws_iam_policy_document.reports_schedules.json
}

resource "aws_sqs_queue" "shipping_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                      = "shop-${var.stage}-shipping-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "shipping" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                       = "shop-${var.stage}-shipping"
  visibility_timeout_seconds = 3660
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.shipping_dlq.arn
    maxReceiveCount     = 8
  })
}

output "shipping_queue_url" {
  description = "URL of the SQS queue of task queue shipping"
  value       = aws_sqs_queue.shipping.url
}

resource "aws_dynamodb_table" "results" {
  # checkov:skip=CKV_AWS_119:encrypted with the AWS-owned key; a customer KMS key is the deployer's choice
  name         = "shop-${var.stage}-results"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "id"

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

resource "aws_s3_bucket" "claim_checks" {
  # checkov:skip=CKV_AWS_18:claim-check objects live minutes to days; access logs would outlive them
  # checkov:skip=CKV_AWS_21:claim-check objects are written once and deleted; versions would keep deleted payloads
  # checkov:skip=CKV_AWS_144:claim checks are transient message bodies; replication adds no safety
  # checkov:skip=CKV_AWS_145:encrypted with S3-managed keys (SSE-S3)
  # checkov:skip=CKV2_AWS_62:nothing reacts to claim-check objects; the message carries the pointer
  bucket = "shop-${var.stage}-claims-${data.aws_caller_identity.current.account_id}-${var.region}"
}

resource "aws_s3_bucket_public_access_block" "claim_checks" {
  bucket                  = aws_s3_bucket.claim_checks.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "claim_checks" {
  bucket = aws_s3_bucket.claim_checks.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "claim_checks" {
  bucket = aws_s3_bucket.claim_checks.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "claim_checks" {
  bucket = aws_s3_bucket.claim_checks.id

  rule {
    id     = "expire-claim-checks"
    status = "Enabled"

    filter {
    }

    expiration {
      days = 15
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

resource "aws_scheduler_schedule_group" "delays" {
  name = "shop-${var.stage}-delays"
}

output "delays_schedule_group" {
  description = "Schedule group of long delays (DISPATCHER_AWS_SCHEDULER_GROUP)"
  value       = aws_scheduler_schedule_group.delays.name
}

data "aws_iam_policy_document" "delays_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["scheduler.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [data.aws_caller_identity.current.account_id]
    }
  }
}

data "aws_iam_policy_document" "delays" {
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.notifications.arn, aws_sqs_queue.notifications_dlq.arn, aws_sqs_queue.orders.arn, aws_sqs_queue.orders_dlq.arn, aws_sqs_queue.payments.arn, aws_sqs_queue.payments_dlq.arn, aws_sqs_queue.reports.arn, aws_sqs_queue.reports_dlq.arn, aws_sqs_queue.shipping.arn, aws_sqs_queue.shipping_dlq.arn]
  }
}

resource "aws_iam_role" "delays" {
  name               = "shop-${var.stage}-delays-role"
  assume_role_policy = data.aws_iam_policy_document.delays_assume.json
}

resource "aws_iam_role_policy" "delays" {
  name   = "dispatcher-delays"
  role   = aws_iam_role.delays.id
  policy = data.aws_iam_policy_document.delays.json
}

output "delays_role_arn" {
  description = "Role EventBridge Scheduler sends long delays with (DISPATCHER_AWS_SCHEDULER_ROLE)"
  value       = aws_iam_role.delays.arn
}

data "aws_iam_policy_document" "inventory_identity_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "inventory_identity" {
  statement {
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.inventory.arn]
  }

  statement {
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.inventory.arn, aws_sqs_queue.notifications.arn, aws_sqs_queue.orders.arn, aws_sqs_queue.payments.arn, aws_sqs_queue.reports.arn, aws_sqs_queue.shipping.arn, aws_sqs_queue.inventory_dlq.arn]
  }

  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.claim_checks.arn]
  }

  statement {
    actions   = ["scheduler:CreateSchedule"]
    resources = ["arn:${data.aws_partition.current.partition}:scheduler:${var.region}:${data.aws_caller_identity.current.account_id}:schedule/${aws_scheduler_schedule_group.delays.name}/*"]
  }

  statement {
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.delays.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.amazonaws.com"]
    }
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.inventory_worker.arn}:*"]
  }
}

resource "aws_iam_role" "inventory_identity" {
  name               = "shop-${var.stage}-inventory-worker-role"
  assume_role_policy = data.aws_iam_policy_document.inventory_identity_assume.json
}

resource "aws_iam_role_policy" "inventory_identity" {
  name   = "dispatcher-worker"
  role   = aws_iam_role.inventory_identity.id
  policy = data.aws_iam_policy_document.inventory_identity.json
}

resource "aws_cloudwatch_log_group" "inventory_worker" {
  # checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data by default; no customer KMS key
  # checkov:skip=CKV_AWS_338:30 days of worker logs are kept; results live in the results table
  name              = "/aws/lambda/shop-${var.stage}-inventory-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "inventory_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference, stage and resource names, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-${var.stage}-inventory-worker"
  description      = "Runs the tasks of queue inventory: samples.shop.update_stock"
  role             = aws_iam_role.inventory_identity.arn
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 256
  timeout          = 160

  environment {
    variables = {
      DISPATCHER_APP                 = "samples.shop:app"
      DISPATCHER_BACKEND             = "aws"
      DISPATCHER_STAGE               = var.stage
      DISPATCHER_AWS_ACCOUNT_ID      = data.aws_caller_identity.current.account_id
      DISPATCHER_AWS_SCHEDULER_GROUP = "shop-${var.stage}-delays"
      DISPATCHER_AWS_SCHEDULER_ROLE  = aws_iam_role.delays.arn
    }
  }
  depends_on = [aws_cloudwatch_log_group.inventory_worker, aws_iam_role_policy.inventory_identity]
}

resource "aws_lambda_event_source_mapping" "inventory_trigger" {
  event_source_arn        = aws_sqs_queue.inventory.arn
  function_name           = aws_lambda_function.inventory_worker.arn
  batch_size              = 10
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 2
  }
}

data "aws_iam_policy_document" "notifications_identity_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "notifications_identity" {
  statement {
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.notifications.arn]
  }

  statement {
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.inventory.arn, aws_sqs_queue.notifications.arn, aws_sqs_queue.orders.arn, aws_sqs_queue.payments.arn, aws_sqs_queue.reports.arn, aws_sqs_queue.shipping.arn, aws_sqs_queue.notifications_dlq.arn]
  }

  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.claim_checks.arn]
  }

  statement {
    actions   = ["scheduler:CreateSchedule"]
    resources = ["arn:${data.aws_partition.current.partition}:scheduler:${var.region}:${data.aws_caller_identity.current.account_id}:schedule/${aws_scheduler_schedule_group.delays.name}/*"]
  }

  statement {
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.delays.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.amazonaws.com"]
    }
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.notifications_worker.arn}:*"]
  }
}

resource "aws_iam_role" "notifications_identity" {
  name               = "shop-${var.stage}-notifications-worker-role"
  assume_role_policy = data.aws_iam_policy_document.notifications_identity_assume.json
}

resource "aws_iam_role_policy" "notifications_identity" {
  name   = "dispatcher-worker"
  role   = aws_iam_role.notifications_identity.id
  policy = data.aws_iam_policy_document.notifications_identity.json
}

resource "aws_cloudwatch_log_group" "notifications_worker" {
  # checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data by default; no customer KMS key
  # checkov:skip=CKV_AWS_338:30 days of worker logs are kept; results live in the results table
  name              = "/aws/lambda/shop-${var.stage}-notifications-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "notifications_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference, stage and resource names, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-${var.stage}-notifications-worker"
  description      = "Runs the tasks of queue notifications: samples.shop.send_receipt"
  role             = aws_iam_role.notifications_identity.arn
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 256
  timeout          = 110

  environment {
    variables = {
      DISPATCHER_APP                 = "samples.shop:app"
      DISPATCHER_BACKEND             = "aws"
      DISPATCHER_STAGE               = var.stage
      DISPATCHER_AWS_ACCOUNT_ID      = data.aws_caller_identity.current.account_id
      DISPATCHER_AWS_SCHEDULER_GROUP = "shop-${var.stage}-delays"
      DISPATCHER_AWS_SCHEDULER_ROLE  = aws_iam_role.delays.arn
      DISPATCHER_AWS_CONCURRENCY     = "2"
    }
  }
  depends_on = [aws_cloudwatch_log_group.notifications_worker, aws_iam_role_policy.notifications_identity]
}

resource "aws_lambda_event_source_mapping" "notifications_trigger" {
  event_source_arn                   = aws_sqs_queue.notifications.arn
  function_name                      = aws_lambda_function.notifications_worker.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 2
  }
}

data "aws_iam_policy_document" "orders_identity_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "orders_identity" {
  statement {
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.orders.arn]
  }

  statement {
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.inventory.arn, aws_sqs_queue.notifications.arn, aws_sqs_queue.orders.arn, aws_sqs_queue.payments.arn, aws_sqs_queue.reports.arn, aws_sqs_queue.shipping.arn, aws_sqs_queue.orders_dlq.arn]
  }

  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.claim_checks.arn]
  }

  statement {
    actions   = ["scheduler:CreateSchedule"]
    resources = ["arn:${data.aws_partition.current.partition}:scheduler:${var.region}:${data.aws_caller_identity.current.account_id}:schedule/${aws_scheduler_schedule_group.delays.name}/*"]
  }

  statement {
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.delays.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.amazonaws.com"]
    }
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.orders_worker.arn}:*"]
  }
}

resource "aws_iam_role" "orders_identity" {
  name               = "shop-${var.stage}-orders-worker-role"
  assume_role_policy = data.aws_iam_policy_document.orders_identity_assume.json
}

resource "aws_iam_role_policy" "orders_identity" {
  name   = "dispatcher-worker"
  role   = aws_iam_role.orders_identity.id
  policy = data.aws_iam_policy_document.orders_identity.json
}

resource "aws_cloudwatch_log_group" "orders_worker" {
  # checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data by default; no customer KMS key
  # checkov:skip=CKV_AWS_338:30 days of worker logs are kept; results live in the results table
  name              = "/aws/lambda/shop-${var.stage}-orders-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "orders_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference, stage and resource names, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-${var.stage}-orders-worker"
  description      = "Runs the tasks of queue orders: samples.shop.place_order"
  role             = aws_iam_role.orders_identity.arn
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 256
  timeout          = 310

  environment {
    variables = {
      DISPATCHER_APP                 = "samples.shop:app"
      DISPATCHER_BACKEND             = "aws"
      DISPATCHER_STAGE               = var.stage
      DISPATCHER_AWS_ACCOUNT_ID      = data.aws_caller_identity.current.account_id
      DISPATCHER_AWS_SCHEDULER_GROUP = "shop-${var.stage}-delays"
      DISPATCHER_AWS_SCHEDULER_ROLE  = aws_iam_role.delays.arn
    }
  }
  depends_on = [aws_cloudwatch_log_group.orders_worker, aws_iam_role_policy.orders_identity]
}

resource "aws_lambda_event_source_mapping" "orders_trigger" {
  event_source_arn                   = aws_sqs_queue.orders.arn
  function_name                      = aws_lambda_function.orders_worker.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]
}

data "aws_iam_policy_document" "payments_identity_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "payments_identity" {
  statement {
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.payments.arn]
  }

  statement {
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.inventory.arn, aws_sqs_queue.notifications.arn, aws_sqs_queue.orders.arn, aws_sqs_queue.payments.arn, aws_sqs_queue.reports.arn, aws_sqs_queue.shipping.arn, aws_sqs_queue.payments_dlq.arn]
  }

  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.claim_checks.arn]
  }

  statement {
    actions   = ["scheduler:CreateSchedule"]
    resources = ["arn:${data.aws_partition.current.partition}:scheduler:${var.region}:${data.aws_caller_identity.current.account_id}:schedule/${aws_scheduler_schedule_group.delays.name}/*"]
  }

  statement {
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.delays.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.amazonaws.com"]
    }
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.payments_worker.arn}:*"]
  }
}

resource "aws_iam_role" "payments_identity" {
  name               = "shop-${var.stage}-payments-worker-role"
  assume_role_policy = data.aws_iam_policy_document.payments_identity_assume.json
}

resource "aws_iam_role_policy" "payments_identity" {
  name   = "dispatcher-worker"
  role   = aws_iam_role.payments_identity.id
  policy = data.aws_iam_policy_document.payments_identity.json
}

resource "aws_cloudwatch_log_group" "payments_worker" {
  # checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data by default; no customer KMS key
  # checkov:skip=CKV_AWS_338:30 days of worker logs are kept; results live in the results table
  name              = "/aws/lambda/shop-${var.stage}-payments-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "payments_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference, stage and resource names, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-${var.stage}-payments-worker"
  description      = "Runs the tasks of queue payments: samples.shop.charge"
  role             = aws_iam_role.payments_identity.arn
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 512
  timeout          = 310

  environment {
    variables = {
      DISPATCHER_APP                 = "samples.shop:app"
      DISPATCHER_BACKEND             = "aws"
      DISPATCHER_STAGE               = var.stage
      DISPATCHER_AWS_ACCOUNT_ID      = data.aws_caller_identity.current.account_id
      DISPATCHER_AWS_SCHEDULER_GROUP = "shop-${var.stage}-delays"
      DISPATCHER_AWS_SCHEDULER_ROLE  = aws_iam_role.delays.arn
    }
  }
  depends_on = [aws_cloudwatch_log_group.payments_worker, aws_iam_role_policy.payments_identity]
}

resource "aws_lambda_event_source_mapping" "payments_trigger" {
  event_source_arn                   = aws_sqs_queue.payments.arn
  function_name                      = aws_lambda_function.payments_worker.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]
}

data "aws_iam_policy_document" "reports_identity_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "reports_identity" {
  statement {
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.reports.arn]
  }

  statement {
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.inventory.arn, aws_sqs_queue.notifications.arn, aws_sqs_queue.orders.arn, aws_sqs_queue.payments.arn, aws_sqs_queue.reports.arn, aws_sqs_queue.shipping.arn, aws_sqs_queue.reports_dlq.arn]
  }

  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.claim_checks.arn]
  }

  statement {
    actions   = ["scheduler:CreateSchedule"]
    resources = ["arn:${data.aws_partition.current.partition}:scheduler:${var.region}:${data.aws_caller_identity.current.account_id}:schedule/${aws_scheduler_schedule_group.delays.name}/*"]
  }

  statement {
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.delays.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.amazonaws.com"]
    }
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.reports_worker.arn}:*"]
  }
}

resource "aws_iam_role" "reports_identity" {
  name               = "shop-${var.stage}-reports-worker-role"
  assume_role_policy = data.aws_iam_policy_document.reports_identity_assume.json
}

resource "aws_iam_role_policy" "reports_identity" {
  name   = "dispatcher-worker"
  role   = aws_iam_role.reports_identity.id
  policy = data.aws_iam_policy_document.reports_identity.json
}

resource "aws_cloudwatch_log_group" "reports_worker" {
  # checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data by default; no customer KMS key
  # checkov:skip=CKV_AWS_338:30 days of worker logs are kept; results live in the results table
  name              = "/aws/lambda/shop-${var.stage}-reports-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "reports_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference, stage and resource names, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-${var.stage}-reports-worker"
  description      = "Runs the tasks of queue reports: samples.shop.nightly_stock_report"
  role             = aws_iam_role.reports_identity.arn
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 256
  timeout          = 850

  environment {
    variables = {
      DISPATCHER_APP                 = "samples.shop:app"
      DISPATCHER_BACKEND             = "aws"
      DISPATCHER_STAGE               = var.stage
      DISPATCHER_AWS_ACCOUNT_ID      = data.aws_caller_identity.current.account_id
      DISPATCHER_AWS_SCHEDULER_GROUP = "shop-${var.stage}-delays"
      DISPATCHER_AWS_SCHEDULER_ROLE  = aws_iam_role.delays.arn
    }
  }
  depends_on = [aws_cloudwatch_log_group.reports_worker, aws_iam_role_policy.reports_identity]
}

resource "aws_lambda_event_source_mapping" "reports_trigger" {
  event_source_arn                   = aws_sqs_queue.reports.arn
  function_name                      = aws_lambda_function.reports_worker.arn
  batch_size                         = 7
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]
}

resource "aws_cloudwatch_event_rule" "nightly_stock_report_schedule" {
  name                = "shop-${var.stage}-nightly-stock-report-schedule"
  description         = "Runs samples.shop.nightly_stock_report on '0 3 * * *' (UTC)"
  schedule_expression = "cron(0 3 * * ? *)"
}

resource "aws_cloudwatch_event_target" "nightly_stock_report_schedule" {
  rule      = aws_cloudwatch_event_rule.nightly_stock_report_schedule.name
  target_id = "queue"
  arn       = aws_sqs_queue.reports.arn

  input_transformer {
    input_paths = {
      id   = "$.id"
      time = "$.time"
    }
    input_template = "{\"version\": 1, \"id\": \"<id>\", \"task\": \"samples.shop.nightly_stock_report\", \"created_at\": \"<time>\"}"
  }
}

data "aws_iam_policy_document" "shipping_identity_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "shipping_identity" {
  statement {
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"]
    resources = [aws_sqs_queue.shipping.arn]
  }

  statement {
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.inventory.arn, aws_sqs_queue.notifications.arn, aws_sqs_queue.orders.arn, aws_sqs_queue.payments.arn, aws_sqs_queue.reports.arn, aws_sqs_queue.shipping.arn, aws_sqs_queue.shipping_dlq.arn]
  }

  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.claim_checks.arn]
  }

  statement {
    actions   = ["scheduler:CreateSchedule"]
    resources = ["arn:${data.aws_partition.current.partition}:scheduler:${var.region}:${data.aws_caller_identity.current.account_id}:schedule/${aws_scheduler_schedule_group.delays.name}/*"]
  }

  statement {
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.delays.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.amazonaws.com"]
    }
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.shipping_worker.arn}:*"]
  }
}

resource "aws_iam_role" "shipping_identity" {
  name               = "shop-${var.stage}-shipping-worker-role"
  assume_role_policy = data.aws_iam_policy_document.shipping_identity_assume.json
}

resource "aws_iam_role_policy" "shipping_identity" {
  name   = "dispatcher-worker"
  role   = aws_iam_role.shipping_identity.id
  policy = data.aws_iam_policy_document.shipping_identity.json
}

resource "aws_cloudwatch_log_group" "shipping_worker" {
  # checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts log data by default; no customer KMS key
  # checkov:skip=CKV_AWS_338:30 days of worker logs are kept; results live in the results table
  name              = "/aws/lambda/shop-${var.stage}-shipping-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "shipping_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference, stage and resource names, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-${var.stage}-shipping-worker"
  description      = "Runs the tasks of queue shipping: samples.shop.ship_order"
  role             = aws_iam_role.shipping_identity.arn
  runtime          = "python3.13"
  architectures    = ["x86_64"]
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 256
  timeout          = 610

  environment {
    variables = {
      DISPATCHER_APP                 = "samples.shop:app"
      DISPATCHER_BACKEND             = "aws"
      DISPATCHER_STAGE               = var.stage
      DISPATCHER_AWS_ACCOUNT_ID      = data.aws_caller_identity.current.account_id
      DISPATCHER_AWS_SCHEDULER_GROUP = "shop-${var.stage}-delays"
      DISPATCHER_AWS_SCHEDULER_ROLE  = aws_iam_role.delays.arn
    }
  }
  depends_on = [aws_cloudwatch_log_group.shipping_worker, aws_iam_role_policy.shipping_identity]
}

resource "aws_lambda_event_source_mapping" "shipping_trigger" {
  event_source_arn                   = aws_sqs_queue.shipping.arn
  function_name                      = aws_lambda_function.shipping_worker.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]
}

data "aws_iam_policy_document" "producers" {
  statement {
    actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
    resources = [aws_sqs_queue.inventory.arn, aws_sqs_queue.notifications.arn, aws_sqs_queue.orders.arn, aws_sqs_queue.payments.arn, aws_sqs_queue.reports.arn, aws_sqs_queue.shipping.arn]
  }

  statement {
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["scheduler:CreateSchedule"]
    resources = ["arn:${data.aws_partition.current.partition}:scheduler:${var.region}:${data.aws_caller_identity.current.account_id}:schedule/${aws_scheduler_schedule_group.delays.name}/*"]
  }

  statement {
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.delays.arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["scheduler.amazonaws.com"]
    }
  }
}

resource "aws_iam_policy" "producers" {
  name        = "shop-${var.stage}-producer"
  description = "Send the tasks of shop (queues, dedup keys, claim checks, long delays)"
  policy      = data.aws_iam_policy_document.producers.json
}

output "producers_policy_arn" {
  description = "Managed policy for producers: attach it to whatever sends tasks"
  value       = aws_iam_policy.producers.arn
}

output "stage" {
  description = "The stage (DISPATCHER_STAGE for producers)"
  value       = var.stage
}
