# faas-dispatcher: shop on AWS (Terraform).
# Generated from the task declarations of samples.shop:app by
#   dispatcher infra samples.shop:app --format terraform
# Do not edit by hand: change the declarations and regenerate.
#
# Deploy: `dispatcher package samples.shop:app`, then
#   terraform apply -var lambda_package=PATH/TO/shop-lambda.zip

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

variable "lambda_package" {
  description = "Path of the zip built by `dispatcher package`"
  type        = string
}

provider "aws" {
  region = var.region
}

resource "aws_sqs_queue" "inventory_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                        = "shop-inventory-dlq.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  message_retention_seconds   = 1209600
  sqs_managed_sse_enabled     = true
}

resource "aws_sqs_queue" "inventory" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                        = "shop-inventory.fifo"
  fifo_queue                  = true
  content_based_deduplication = true
  visibility_timeout_seconds  = 90
  message_retention_seconds   = 345600
  sqs_managed_sse_enabled     = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.inventory_dlq.arn
    maxReceiveCount     = 8
  })
}

output "inventory_queue_url" {
  description = "URL of shop-inventory.fifo"
  value       = aws_sqs_queue.inventory.url
}

resource "aws_sqs_queue" "notifications_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                      = "shop-notifications-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "notifications" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                       = "shop-notifications"
  visibility_timeout_seconds = 60
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.notifications_dlq.arn
    maxReceiveCount     = 8
  })
}

output "notifications_queue_url" {
  description = "URL of shop-notifications"
  value       = aws_sqs_queue.notifications.url
}

resource "aws_sqs_queue" "orders_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                      = "shop-orders-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "orders" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                       = "shop-orders"
  visibility_timeout_seconds = 180
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.orders_dlq.arn
    maxReceiveCount     = 8
  })
}

output "orders_queue_url" {
  description = "URL of shop-orders"
  value       = aws_sqs_queue.orders.url
}

resource "aws_sqs_queue" "payments_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                      = "shop-payments-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "payments" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                       = "shop-payments"
  visibility_timeout_seconds = 180
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.payments_dlq.arn
    maxReceiveCount     = 10
  })
}

output "payments_queue_url" {
  description = "URL of shop-payments"
  value       = aws_sqs_queue.payments.url
}

resource "aws_sqs_queue" "reports_dlq" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                      = "shop-reports-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "reports" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                       = "shop-reports"
  visibility_timeout_seconds = 720
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.reports_dlq.arn
    maxReceiveCount     = 8
  })
}

output "reports_queue_url" {
  description = "URL of shop-reports"
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
  name                      = "shop-shipping-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "shipping" {
  # checkov:skip=CKV_AWS_27:encrypted with SQS-managed SSE; a customer KMS key would also have to be granted to EventBridge and every producer
  name                       = "shop-shipping"
  visibility_timeout_seconds = 360
  message_retention_seconds  = 345600
  sqs_managed_sse_enabled    = true
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.shipping_dlq.arn
    maxReceiveCount     = 8
  })
}

output "shipping_queue_url" {
  description = "URL of shop-shipping"
  value       = aws_sqs_queue.shipping.url
}

resource "aws_dynamodb_table" "results" {
  # checkov:skip=CKV_AWS_119:encrypted with the AWS-owned key; a customer KMS key is the deployer's choice
  name         = "shop-results"
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
  bucket = "shop-claim-checks"
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
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [aws_s3_bucket.claim_checks.arn, "${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.inventory_worker.arn}:*"]
  }
}

resource "aws_iam_role" "inventory_identity" {
  name               = "shop-inventory-worker-role"
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
  name              = "/aws/lambda/shop-inventory-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "inventory_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference and backend name, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-inventory-worker"
  description      = "Runs the tasks of queue inventory: samples.shop.update_stock"
  role             = aws_iam_role.inventory_identity.arn
  runtime          = "python3.11"
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 256
  timeout          = 15

  environment {
    variables = {
      DISPATCHER_APP     = "samples.shop:app"
      DISPATCHER_BACKEND = "aws"
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
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [aws_s3_bucket.claim_checks.arn, "${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.notifications_worker.arn}:*"]
  }
}

resource "aws_iam_role" "notifications_identity" {
  name               = "shop-notifications-worker-role"
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
  name              = "/aws/lambda/shop-notifications-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "notifications_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference and backend name, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-notifications-worker"
  description      = "Runs the tasks of queue notifications: samples.shop.send_receipt"
  role             = aws_iam_role.notifications_identity.arn
  runtime          = "python3.11"
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 256
  timeout          = 10

  environment {
    variables = {
      DISPATCHER_APP     = "samples.shop:app"
      DISPATCHER_BACKEND = "aws"
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
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [aws_s3_bucket.claim_checks.arn, "${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.orders_worker.arn}:*"]
  }
}

resource "aws_iam_role" "orders_identity" {
  name               = "shop-orders-worker-role"
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
  name              = "/aws/lambda/shop-orders-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "orders_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference and backend name, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-orders-worker"
  description      = "Runs the tasks of queue orders: samples.shop.place_order"
  role             = aws_iam_role.orders_identity.arn
  runtime          = "python3.11"
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 256
  timeout          = 30

  environment {
    variables = {
      DISPATCHER_APP     = "samples.shop:app"
      DISPATCHER_BACKEND = "aws"
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
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [aws_s3_bucket.claim_checks.arn, "${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.payments_worker.arn}:*"]
  }
}

resource "aws_iam_role" "payments_identity" {
  name               = "shop-payments-worker-role"
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
  name              = "/aws/lambda/shop-payments-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "payments_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference and backend name, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-payments-worker"
  description      = "Runs the tasks of queue payments: samples.shop.charge"
  role             = aws_iam_role.payments_identity.arn
  runtime          = "python3.11"
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 512
  timeout          = 30

  environment {
    variables = {
      DISPATCHER_APP     = "samples.shop:app"
      DISPATCHER_BACKEND = "aws"
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
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [aws_s3_bucket.claim_checks.arn, "${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.reports_worker.arn}:*"]
  }
}

resource "aws_iam_role" "reports_identity" {
  name               = "shop-reports-worker-role"
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
  name              = "/aws/lambda/shop-reports-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "reports_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference and backend name, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-reports-worker"
  description      = "Runs the tasks of queue reports: samples.shop.nightly_stock_report"
  role             = aws_iam_role.reports_identity.arn
  runtime          = "python3.11"
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 256
  timeout          = 120

  environment {
    variables = {
      DISPATCHER_APP     = "samples.shop:app"
      DISPATCHER_BACKEND = "aws"
    }
  }
  depends_on = [aws_cloudwatch_log_group.reports_worker, aws_iam_role_policy.reports_identity]
}

resource "aws_lambda_event_source_mapping" "reports_trigger" {
  event_source_arn                   = aws_sqs_queue.reports.arn
  function_name                      = aws_lambda_function.reports_worker.arn
  batch_size                         = 10
  maximum_batching_window_in_seconds = 0
  function_response_types            = ["ReportBatchItemFailures"]
}

resource "aws_cloudwatch_event_rule" "nightly_stock_report_schedule" {
  name                = "shop-nightly-stock-report-schedule"
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
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:DescribeTable"]
    resources = [aws_dynamodb_table.results.arn]
  }

  statement {
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [aws_s3_bucket.claim_checks.arn, "${aws_s3_bucket.claim_checks.arn}/*"]
  }

  statement {
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.shipping_worker.arn}:*"]
  }
}

resource "aws_iam_role" "shipping_identity" {
  name               = "shop-shipping-worker-role"
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
  name              = "/aws/lambda/shop-shipping-worker"
  retention_in_days = 30
}

resource "aws_lambda_function" "shipping_worker" {
  # checkov:skip=CKV_AWS_116:fed by an SQS event source mapping, whose redrive policy is the dead-letter queue; nothing invokes it asynchronously
  # checkov:skip=CKV_AWS_117:talks only to public AWS endpoints (SQS, DynamoDB, S3); no VPC resources
  # checkov:skip=CKV_AWS_173:the environment holds only the app reference and backend name, no secrets
  # checkov:skip=CKV_AWS_272:the package is built by `dispatcher package`; code signing is the deployer's choice
  # checkov:skip=CKV_AWS_115:concurrency is limited per queue by the event source mapping's maximum concurrency where the task declares one
  # checkov:skip=CKV_AWS_50:X-Ray tracing is left to the deployer; the envelope carries W3C trace context
  function_name    = "shop-shipping-worker"
  description      = "Runs the tasks of queue shipping: samples.shop.ship_order"
  role             = aws_iam_role.shipping_identity.arn
  runtime          = "python3.11"
  handler          = "adapters.aws.entrypoint.handler"
  filename         = var.lambda_package
  source_code_hash = filebase64sha256(var.lambda_package)
  memory_size      = 256
  timeout          = 60

  environment {
    variables = {
      DISPATCHER_APP     = "samples.shop:app"
      DISPATCHER_BACKEND = "aws"
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
