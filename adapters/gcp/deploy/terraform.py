"""``main.tf``: the GCP policy's records as HCL for the hashicorp/google provider, formatted as
``terraform fmt`` would. Only writes: every value comes from the records; this module knows
Terraform's resource types, addresses and reference syntax. The skeleton
(``templates/gcp/terraform/main.tf.j2``) holds the provider, the variables (``project``,
``region``, ``stage``, ``image``) and the names derived from the records' (``local.bucket``,
``local.service_url``, ``local.account_ids``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from adapters.aws.deploy.names import snake
from adapters.gcp.config import BUCKET_KEPT
from adapters.gcp.deploy.records import (
    AccountEmail,
    ActAsGrant,
    Bucket,
    BucketGrant,
    BucketName,
    CloudRunService,
    GcpPlan,
    InvokerGrant,
    Joined,
    ProducerSettings,
    Project,
    QueueGrant,
    Region,
    SchedulerJob,
    ServiceAccount,
    ServiceUrlTemplate,
    Setting,
    Stage,
    TasksQueue,
    Text,
)
from dispatcher.deploy.hcl import (
    Attribute,
    Block,
    Comment,
    Expr,
    Item,
    checkov_comments,
    document,
    quote,
)
from dispatcher.deploy.render import Renderer
from dispatcher.deploy.text import render_template
from dispatcher.naming import MAX_STAGE_LENGTH, STAGE_PATTERN, Name

Blocks = list[Block]
TEMPLATES = "adapters.gcp.deploy"

#: The Terraform resource type of each record type's main resource.
RESOURCE_TYPES: dict[type, str] = {
    TasksQueue: "google_cloud_tasks_queue",
    Bucket: "google_storage_bucket",
    ServiceAccount: "google_service_account",
    CloudRunService: "google_cloud_run_v2_service",
    InvokerGrant: "google_cloud_run_v2_service_iam_member",
    QueueGrant: "google_cloud_tasks_queue_iam_member",
    BucketGrant: "google_storage_bucket_iam_member",
    ActAsGrant: "google_service_account_iam_member",
    SchedulerJob: "google_cloud_scheduler_job",
    ProducerSettings: "output",
}


def address(kind: type, name: str) -> str:
    """The address of the record of type ``kind`` for ``name``."""
    return f"{RESOURCE_TYPES[kind]}.{snake(name)}"


def interpolated(text: str) -> str:
    """``text`` as the inside of an HCL string (quotes and template sequences escaped)."""
    return quote(text)[1:-1]


def name_expr(name: Name) -> Expr:
    """A name with the stage, the project and the region as Terraform references:
    ``"shop-${var.stage}-payments"``."""
    return Expr(f'"{name.render("-${var.stage}", "${var.project}", "${var.region}")}"')


def setting(value: Setting) -> Expr:
    """A symbolic setting as an HCL expression: a bare reference where it is one alone (as
    ``terraform fmt`` wants it), else a string."""
    inside = _inside(value)
    if inside.startswith("${") and inside.endswith("}") and inside.count("${") == 1:
        return Expr(inside[2:-1])
    return Expr(f'"{inside}"')


def _inside(value: Setting) -> str:
    """A setting as the inside of an HCL string."""
    if isinstance(value, Text):
        return interpolated(value.text)
    if isinstance(value, Joined):
        return "".join(_inside(part) for part in value.parts)
    references: dict[type, str] = {
        Project: "var.project",
        Region: "var.region",
        Stage: "var.stage",
        BucketName: "local.bucket",
        ServiceUrlTemplate: "local.service_url",
    }
    if isinstance(value, AccountEmail):
        return f"${{{address(ServiceAccount, value.account)}.email}}"
    return f"${{{references[type(value)]}}}"


def member(account: str) -> Expr:
    """An IAM member naming a service account record."""
    return Expr(f'"serviceAccount:${{{address(ServiceAccount, account)}.email}}"')


def service_url(service: str) -> Expr:
    """The deterministic URL of a service record."""
    name = f"{address(CloudRunService, service)}.name"
    return Expr(f'replace(local.service_url, "{{service}}", {name})')


def resource(kind: str, name: str, *items: Item) -> Block:
    """A ``resource`` block."""
    return Block("resource", (kind, name), list(items))


class TerraformRenderer(Renderer[Blocks]):
    """``main.tf``."""

    format = "terraform"
    provider = "gcp"
    filename = "main.tf"

    def handlers(self) -> Mapping[type, Callable[[Any, Any], Blocks]]:
        return {
            TasksQueue: self.queue,
            Bucket: self.bucket,
            ServiceAccount: self.account,
            CloudRunService: self.service,
            InvokerGrant: self.invoker_grant,
            QueueGrant: self.queue_grant,
            BucketGrant: self.bucket_grant,
            ActAsGrant: self.act_as_grant,
            SchedulerJob: self.job,
            ProducerSettings: self.producer_settings,
        }

    def queue(self, record: TasksQueue, plan: GcpPlan) -> Blocks:
        """A ``google_cloud_tasks_queue`` with its rate limits and retry schedule."""
        retry = record.retry
        return [
            resource(
                "google_cloud_tasks_queue",
                snake(record.name),
                Comment(record.description),
                Attribute("name", name_expr(record.queue)),
                Attribute("location", Expr("var.region")),
                Block(
                    "rate_limits",
                    (),
                    [
                        Attribute("max_dispatches_per_second", record.max_dispatches_per_second),
                        Attribute("max_concurrent_dispatches", record.max_concurrent_dispatches),
                    ],
                ),
                Block(
                    "retry_config",
                    (),
                    [
                        Attribute("max_attempts", retry.max_attempts),
                        Attribute("min_backoff", f"{retry.min_backoff:g}s"),
                        Attribute("max_backoff", f"{retry.max_backoff:g}s"),
                        Attribute("max_doublings", retry.max_doublings),
                        Attribute("max_retry_duration", f"{retry.max_retry_duration}s"),
                    ],
                ),
                Block(
                    "stackdriver_logging_config",
                    (),
                    [Attribute("sampling_ratio", record.log_sampling_ratio)],
                ),
            )
        ]

    def bucket(self, record: Bucket, plan: GcpPlan) -> Blocks:
        """A ``google_storage_bucket`` with one lifecycle rule per kind of object, and its
        name as an output."""
        rules: list[Item] = [
            Block(
                "lifecycle_rule",
                (),
                [
                    Comment(rule.reason),
                    Block(
                        "condition",
                        (),
                        [
                            Attribute("age", rule.age_days),
                            Attribute("matches_prefix", [rule.prefix]),
                        ],
                    ),
                    Block("action", (), [Attribute("type", "Delete")]),
                ],
            )
            for rule in record.rules
        ]
        name = snake(record.name)
        return [
            resource(
                "google_storage_bucket",
                name,
                *checkov_comments(record.skips),
                Comment(f"The app's bucket: {record.description}"),
                Attribute("name", Expr("local.bucket")),
                Attribute("location", Expr("var.region")),
                Attribute("storage_class", record.storage_class),
                Attribute("uniform_bucket_level_access", record.uniform_access),
                Attribute("public_access_prevention", record.public_access_prevention),
                Block(
                    "soft_delete_policy",
                    (),
                    [Attribute("retention_duration_seconds", record.soft_delete_seconds)],
                ),
                *rules,
            ),
            Block(
                "output",
                ("bucket",),
                [
                    Attribute("description", "The app's bucket (DISPATCHER_GCP_BUCKET)"),
                    Attribute("value", Expr(f"{address(Bucket, record.name)}.name")),
                ],
            ),
        ]

    def account(self, record: ServiceAccount, plan: GcpPlan) -> Blocks:
        """A ``google_service_account`` (its id from ``local.account_ids``)."""
        return [
            resource(
                "google_service_account",
                snake(record.name),
                Attribute("account_id", Expr(f'local.account_ids["{snake(record.name)}"]')),
                Attribute("display_name", record.display_name),
                Attribute("description", record.description),
            )
        ]

    def service(self, record: CloudRunService, plan: GcpPlan) -> Blocks:
        """A ``google_cloud_run_v2_service`` running the receiver."""
        environment: list[Item] = [
            Block(
                "env",
                (),
                [Attribute("name", key), Attribute("value", setting(value))],
            )
            for key, value in record.environment.items()
        ]
        generation = (
            "EXECUTION_ENVIRONMENT_GEN1"
            if record.memory_mb < 512
            else ("EXECUTION_ENVIRONMENT_GEN2")
        )
        container: list[Item] = [
            Attribute("image", Expr(f"var.{record.image_variable}")),
            Block("ports", (), [Attribute("container_port", record.port)]),
            Block(
                "resources",
                (),
                [
                    Attribute("limits", {"cpu": record.cpu, "memory": f"{record.memory_mb}Mi"}),
                    Attribute("cpu_idle", True),
                    Attribute("startup_cpu_boost", True),
                ],
            ),
            *environment,
        ]
        name = snake(record.name)
        template: list[Item] = [
            Attribute("service_account", Expr(f"{address(ServiceAccount, record.account)}.email")),
            Attribute("timeout", f"{record.timeout_seconds}s"),
            Attribute("max_instance_request_concurrency", record.concurrency),
            Attribute("execution_environment", generation),
            Block(
                "scaling",
                (),
                [
                    Attribute("min_instance_count", record.min_instances),
                    Attribute("max_instance_count", record.max_instances),
                ],
            ),
            Block("containers", (), container),
        ]
        deterministic = f'replace(local.service_url, "{{service}}", {name_expr(record.service)})'
        return [
            resource(
                "google_cloud_run_v2_service",
                name,
                *checkov_comments(record.skips),
                Comment(record.description),
                Attribute("name", name_expr(record.service)),
                Attribute("location", Expr("var.region")),
                Attribute("ingress", record.ingress),
                Attribute("deletion_protection", record.deletion_protection),
                Attribute("custom_audiences", [Expr(deterministic)]),
                Block("template", (), template),
            )
        ]

    def invoker_grant(self, record: InvokerGrant, plan: GcpPlan) -> Blocks:
        """A ``google_cloud_run_v2_service_iam_member``."""
        service = address(CloudRunService, record.service)
        return [
            resource(
                "google_cloud_run_v2_service_iam_member",
                snake(record.name),
                Attribute("name", Expr(f"{service}.name")),
                Attribute("location", Expr(f"{service}.location")),
                Attribute("role", record.role),
                Attribute("member", member(record.account)),
            )
        ]

    def queue_grant(self, record: QueueGrant, plan: GcpPlan) -> Blocks:
        """A ``google_cloud_tasks_queue_iam_member`` for each queue."""
        queues = {snake(q): Expr(f"{address(TasksQueue, q)}.name") for q in record.queues}
        return [
            resource(
                "google_cloud_tasks_queue_iam_member",
                snake(record.name),
                Attribute("for_each", queues),
                Attribute("name", Expr("each.value")),
                Attribute("location", Expr("var.region")),
                Attribute("role", record.role),
                Attribute("member", member(record.account)),
            )
        ]

    def bucket_grant(self, record: BucketGrant, plan: GcpPlan) -> Blocks:
        """A ``google_storage_bucket_iam_member``, with an IAM condition on object names when
        it is limited to prefixes."""
        [bucket] = plan.of_type(Bucket)
        items: list[Item] = [
            Attribute("bucket", Expr(f"{address(Bucket, bucket.name)}.name")),
            Attribute("role", record.role),
            Attribute("member", member(record.account)),
        ]
        if record.prefixes:
            objects = f"projects/_/buckets/${{{address(Bucket, bucket.name)}.name}}/objects/"
            tests = " || ".join(
                f'resource.name.startsWith(\\"{objects}{prefix}\\")' for prefix in record.prefixes
            )
            items.append(
                Block(
                    "condition",
                    (),
                    [
                        Attribute("title", record.condition_title),
                        Attribute("expression", Expr(f'"{tests}"')),
                    ],
                )
            )
        return [resource("google_storage_bucket_iam_member", snake(record.name), *items)]

    def act_as_grant(self, record: ActAsGrant, plan: GcpPlan) -> Blocks:
        """A ``google_service_account_iam_member`` on the target account."""
        return [
            resource(
                "google_service_account_iam_member",
                snake(record.name),
                Attribute(
                    "service_account_id", Expr(f"{address(ServiceAccount, record.target)}.name")
                ),
                Attribute("role", record.role),
                Attribute("member", member(record.account)),
            )
        ]

    def job(self, record: SchedulerJob, plan: GcpPlan) -> Blocks:
        """A ``google_cloud_scheduler_job`` pushing to the task's service."""
        url = service_url(record.service)
        return [
            resource(
                "google_cloud_scheduler_job",
                snake(record.name),
                Attribute("name", name_expr(record.job)),
                Attribute("description", record.description),
                Attribute("region", Expr("var.region")),
                Attribute("schedule", record.schedule),
                Attribute("time_zone", record.time_zone),
                Attribute("attempt_deadline", f"{record.attempt_deadline_seconds}s"),
                Block("retry_config", (), [Attribute("retry_count", record.retry_count)]),
                Block(
                    "http_target",
                    (),
                    [
                        Attribute("http_method", "POST"),
                        Attribute("uri", Expr(f'"${{{url}}}{interpolated(record.path)}"')),
                        Block(
                            "oidc_token",
                            (),
                            [
                                Attribute(
                                    "service_account_email",
                                    Expr(f"{address(ServiceAccount, record.account)}.email"),
                                ),
                                Attribute("audience", Expr(url)),
                            ],
                        ),
                    ],
                ),
            )
        ]

    def producer_settings(self, record: ProducerSettings, plan: GcpPlan) -> Blocks:
        """The producers' environment and account, as outputs."""
        return [
            Block(
                "output",
                ("producer_environment",),
                [
                    Attribute("description", record.description),
                    Attribute(
                        "value", {key: setting(value) for key, value in record.environment.items()}
                    ),
                ],
            ),
            Block(
                "output",
                ("producer_account",),
                [
                    Attribute("description", "The service account producers run as"),
                    Attribute("value", Expr(f"{address(ServiceAccount, record.account)}.email")),
                ],
            ),
        ]

    def render(self, plan: GcpPlan) -> dict[str, str]:
        names = {snake(a.name): name_expr(a.account) for a in plan.of_type(ServiceAccount)}
        [bucket] = plan.of_type(Bucket)
        names_of: list[Item] = [
            Attribute("bucket_full", name_expr(bucket.bucket)),
            Attribute("account_names", names),
        ]
        blocks = [Block("locals", (), names_of)]
        blocks += [block for fragment in self.fragments(plan) for block in fragment]
        text = render_template(
            TEMPLATES,
            "terraform/main.tf.j2",
            deployment=plan.deployment,
            format=self.format,
            stage_pattern=STAGE_PATTERN,
            max_stage_length=MAX_STAGE_LENGTH,
            bucket_kept=BUCKET_KEPT,
            body=document(blocks),
        )
        return {self.filename: text}
