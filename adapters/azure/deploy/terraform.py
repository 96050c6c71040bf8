"""``main.tf``: the Azure policy's records as HCL for the hashicorp/azurerm provider, formatted
as ``terraform fmt`` would. Only writes: every value comes from the records; this module knows
Terraform's resource types, addresses and reference syntax, and spells the names as the
skeleton's locals build them (``local.prefix``, ``local.compact``, ``local.storage_account``,
``local.function_app``: ``templates/azure/terraform/main.tf.j2``). The functions and host.json
are not Terraform's: ``dispatcher package --provider azure`` writes them from the same plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from adapters.azure.deploy.policy import PRODUCER
from adapters.azure.deploy.records import (
    AppInsights,
    AzurePlan,
    FunctionApp,
    FunctionPlan,
    HostJson,
    LifecyclePolicy,
    LogWorkspace,
    Named,
    QueueFunction,
    Ref,
    ResourceGroup,
    RoleAssignment,
    Setting,
    StageSetting,
    StorageAccount,
    StorageContainer,
    StorageQueue,
    StorageTable,
    TimerFunction,
    UserIdentity,
)
from adapters.azure.names import MAX_STAGE_LENGTH, STAGE_PATTERN
from dispatcher.deploy.hcl import (
    Attribute,
    Block,
    Comment,
    Expr,
    Item,
    Value,
    checkov_comments,
    document,
)
from dispatcher.deploy.render import Renderer
from dispatcher.deploy.text import render_template

Blocks = list[Block]
TEMPLATES = "adapters.azure"

#: The Terraform resource type of each record type's main resource.
RESOURCE_TYPES: dict[type, str] = {
    ResourceGroup: "azurerm_resource_group",
    StorageAccount: "azurerm_storage_account",
    StorageQueue: "azurerm_storage_queue",
    StorageTable: "azurerm_storage_table",
    StorageContainer: "azurerm_storage_container",
    LifecyclePolicy: "azurerm_storage_management_policy",
    UserIdentity: "azurerm_user_assigned_identity",
    RoleAssignment: "azurerm_role_assignment",
    LogWorkspace: "azurerm_log_analytics_workspace",
    AppInsights: "azurerm_application_insights",
    FunctionPlan: "azurerm_service_plan",
    FunctionApp: "azurerm_function_app_flex_consumption",
}
#: The Resource Manager path of a storage resource below its account's id.
_SERVICE_PATHS: dict[type, str] = {
    StorageQueue: "queueServices/default/queues",
    StorageTable: "tableServices/default/tables",
    StorageContainer: "blobServices/default/containers",
}


def snake(name: str) -> str:
    """A Terraform identifier from a record name: ``payments-poison`` -> ``payments_poison``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def address(kind: type, name: str) -> str:
    """The address of the record of type ``kind`` called ``name``."""
    return f"{RESOURCE_TYPES[kind]}.{snake(name)}"


def spelled(named: Named) -> Expr:
    """A name as the locals build it."""
    if named.style == "hyphenated":
        return Expr(f'"${{local.prefix}}-{named.part}"')
    if named.style == "compact":
        return Expr(f'"${{local.compact}}{named.part}"')
    if named.style == "account":
        return Expr("local.storage_account")
    if named.style == "site":
        return Expr("local.function_app")
    return Expr(f'"{named.part}"')


def scope_of(ref: Ref, account: str) -> Expr:
    """The Resource Manager id a role is scoped to: a queue, table or container of the
    account (built from the account's id, as the provider's data-plane ids are not), or any
    other resource's own id."""
    path = _SERVICE_PATHS.get(ref.kind)
    if path is None:
        return Expr(f"{address(ref.kind, ref.name)}.id")
    parent, child = address(StorageAccount, account), address(ref.kind, ref.name)
    return Expr(f'"${{{parent}.id}}/{path}/${{{child}.name}}"')


def setting(value: Setting | StageSetting) -> Value:
    """An app setting's value as HCL."""
    if isinstance(value, StageSetting):
        return Expr("var.stage")
    if value.ref is None:
        return value.template.format(value.attribute)
    attribute = f"{address(value.ref.kind, value.ref.name)}.{value.attribute}"
    if value.template == "{}":
        return Expr(attribute)
    return Expr('"' + value.template.format(f"${{{attribute}}}") + '"')


def resource(kind: str, name: str, *items: Item) -> Block:
    """A ``resource`` block."""
    return Block("resource", (kind, name), list(items))


def output(name: str, description: str, value: Value) -> Block:
    """An ``output`` block."""
    return Block(
        "output", (name,), [Attribute("description", description), Attribute("value", value)]
    )


def placed(group: str) -> list[Item]:
    """The resource group and location attributes every top-level resource has."""
    return [
        Attribute("resource_group_name", Expr(f"{address(ResourceGroup, group)}.name")),
        Attribute("location", Expr(f"{address(ResourceGroup, group)}.location")),
    ]


class TerraformRenderer(Renderer[Blocks]):
    """``main.tf``."""

    format = "terraform"
    provider = "azure"
    filename = "main.tf"

    def handlers(self) -> Mapping[type, Callable[[Any, Any], Blocks]]:
        return {
            ResourceGroup: self.group,
            StorageAccount: self.account,
            StorageQueue: self.queue,
            StorageTable: self.table,
            StorageContainer: self.container,
            LifecyclePolicy: self.lifecycle,
            UserIdentity: self.identity,
            RoleAssignment: self.role,
            LogWorkspace: self.workspace,
            AppInsights: self.insights,
            FunctionPlan: self.plan,
            FunctionApp: self.function_app,
            # function_app.py and host.json, written by `dispatcher package --provider azure`
            QueueFunction: lambda record, plan: [],
            TimerFunction: lambda record, plan: [],
            HostJson: lambda record, plan: [],
        }

    def group(self, record: ResourceGroup, plan: AzurePlan) -> Blocks:
        """An ``azurerm_resource_group``."""
        return [
            resource(
                "azurerm_resource_group",
                snake(record.name),
                Attribute("name", spelled(record.group)),
                Attribute("location", Expr("var.location")),
            ),
            output(
                "resource_group",
                "The resource group of the app",
                Expr(f"{address(ResourceGroup, record.name)}.name"),
            ),
        ]

    def account(self, record: StorageAccount, plan: AzurePlan) -> Blocks:
        """An ``azurerm_storage_account`` signed into with identities only."""
        group = _group(plan)
        days = record.soft_delete_days
        return [
            resource(
                "azurerm_storage_account",
                snake(record.name),
                *checkov_comments(record.skips),
                Attribute("name", spelled(record.account)),
                *placed(group),
                Attribute("account_kind", record.kind),
                Attribute("account_tier", record.tier),
                Attribute("account_replication_type", Expr("var.storage_replication")),
                Attribute("min_tls_version", record.min_tls_version),
                Attribute("https_traffic_only_enabled", True),
                Attribute("shared_access_key_enabled", record.shared_key_access),
                Attribute("default_to_oauth_authentication", True),
                Attribute("allow_nested_items_to_be_public", record.public_blob_access),
                Attribute("local_user_enabled", False),
                Block(
                    "blob_properties",
                    (),
                    [
                        Attribute("last_access_time_enabled", True),
                        Block("delete_retention_policy", (), [Attribute("days", days)]),
                        Block("container_delete_retention_policy", (), [Attribute("days", days)]),
                    ],
                ),
                Block(
                    "sas_policy",
                    (),
                    [
                        Attribute("expiration_period", "00.01:00:00"),
                        Attribute("expiration_action", "Log"),
                    ],
                ),
            ),
            output(
                "storage_account",
                "The storage account of the queues, the results table and the containers",
                Expr(f"{address(StorageAccount, record.name)}.name"),
            ),
        ]

    def queue(self, record: StorageQueue, plan: AzurePlan) -> Blocks:
        """An ``azurerm_storage_queue``."""
        return [
            resource(
                "azurerm_storage_queue",
                snake(record.name),
                Attribute("name", spelled(record.queue)),
                Attribute("storage_account_id", Expr(f"{_account_address(plan)}.id")),
            )
        ]

    def table(self, record: StorageTable, plan: AzurePlan) -> Blocks:
        """An ``azurerm_storage_table``."""
        return [
            resource(
                "azurerm_storage_table",
                snake(record.name),
                *checkov_comments(record.skips),
                Attribute("name", spelled(record.table)),
                Attribute("storage_account_id", Expr(f"{_account_address(plan)}.id")),
            )
        ]

    def container(self, record: StorageContainer, plan: AzurePlan) -> Blocks:
        """A private ``azurerm_storage_container``."""
        return [
            resource(
                "azurerm_storage_container",
                snake(record.name),
                Comment(f"Holds {record.holds}."),
                *checkov_comments(record.skips),
                Attribute("name", spelled(record.container)),
                Attribute("storage_account_id", Expr(f"{_account_address(plan)}.id")),
                Attribute("container_access_type", "private"),
            )
        ]

    def lifecycle(self, record: LifecyclePolicy, plan: AzurePlan) -> Blocks:
        """An ``azurerm_storage_management_policy``: one rule per expiring container."""
        rules: list[Item] = [
            Block(
                "rule",
                (),
                [
                    Attribute("name", rule.name),
                    Attribute("enabled", True),
                    Block(
                        "filters",
                        (),
                        [
                            Attribute("blob_types", ["blockBlob"]),
                            Attribute(
                                "prefix_match",
                                [Expr(f'"${{{address(StorageContainer, rule.container)}.name}}/"')],
                            ),
                        ],
                    ),
                    Block(
                        "actions",
                        (),
                        [
                            Block(
                                "base_blob",
                                (),
                                [
                                    Attribute(
                                        "delete_after_days_since_last_access_time_greater_than",
                                        rule.days,
                                    )
                                ],
                            )
                        ],
                    ),
                ],
            )
            for rule in record.rules
        ]
        return [
            resource(
                "azurerm_storage_management_policy",
                snake(record.name),
                Attribute(
                    "storage_account_id", Expr(f"{address(StorageAccount, record.account)}.id")
                ),
                *rules,
            )
        ]

    def identity(self, record: UserIdentity, plan: AzurePlan) -> Blocks:
        """An ``azurerm_user_assigned_identity``."""
        return [
            resource(
                "azurerm_user_assigned_identity",
                snake(record.name),
                Attribute("name", spelled(record.identity)),
                *placed(_group(plan)),
            )
        ]

    def role(self, record: RoleAssignment, plan: AzurePlan) -> Blocks:
        """An ``azurerm_role_assignment`` on one resource; a producer's only when the
        variable ``producer_principal_id`` names one."""
        items: list[Item] = []
        if record.identity == PRODUCER:
            principal: Expr = Expr("var.producer_principal_id")
            items.append(Attribute("count", Expr('var.producer_principal_id == "" ? 0 : 1')))
        else:
            principal = Expr(f"{address(UserIdentity, record.identity)}.principal_id")
        items += [
            Attribute("scope", scope_of(record.scope, _account(plan))),
            Attribute("role_definition_name", record.role),
            Attribute("principal_id", principal),
        ]
        if record.identity != PRODUCER:
            items.append(Attribute("principal_type", "ServicePrincipal"))
        items.append(Attribute("description", record.reason))
        return [resource("azurerm_role_assignment", snake(record.name), *items)]

    def workspace(self, record: LogWorkspace, plan: AzurePlan) -> Blocks:
        """An ``azurerm_log_analytics_workspace``."""
        return [
            resource(
                "azurerm_log_analytics_workspace",
                snake(record.name),
                Attribute("name", spelled(record.workspace)),
                *placed(_group(plan)),
                Attribute("sku", record.sku),
                Attribute("retention_in_days", record.retention_days),
            )
        ]

    def insights(self, record: AppInsights, plan: AzurePlan) -> Blocks:
        """A workspace-based ``azurerm_application_insights``."""
        return [
            resource(
                "azurerm_application_insights",
                snake(record.name),
                Attribute("name", spelled(record.insights)),
                *placed(_group(plan)),
                Attribute("workspace_id", Expr(f"{address(LogWorkspace, record.workspace)}.id")),
                Attribute("application_type", record.application_type),
                Attribute("local_authentication_disabled", not record.local_auth),
            )
        ]

    def plan(self, record: FunctionPlan, plan: AzurePlan) -> Blocks:
        """An ``azurerm_service_plan`` on the Flex Consumption SKU."""
        return [
            resource(
                "azurerm_service_plan",
                snake(record.name),
                *checkov_comments(record.skips),
                Attribute("name", spelled(record.plan)),
                *placed(_group(plan)),
                Attribute("os_type", record.os_type),
                Attribute("sku_name", record.sku),
            )
        ]

    def function_app(self, record: FunctionApp, plan: AzurePlan) -> Blocks:
        """An ``azurerm_function_app_flex_consumption`` running as its identity, made after its
        roles (so that its first start finds them), and its outputs."""
        identity = address(UserIdentity, record.identity)
        account = address(StorageAccount, record.storage_account)
        package = address(StorageContainer, record.package_container)
        roles = [
            Expr(address(RoleAssignment, r.name))
            for r in plan.of_type(RoleAssignment)
            if r.identity == record.identity
        ]
        items: list[Item] = [
            Attribute("name", spelled(record.app)),
            *placed(_group(plan)),
            Attribute("service_plan_id", Expr(f"{address(FunctionPlan, record.plan)}.id")),
            Attribute("storage_container_type", "blobContainer"),
            Attribute(
                "storage_container_endpoint",
                Expr(f'"${{{account}.primary_blob_endpoint}}${{{package}.name}}"'),
            ),
            Attribute("storage_authentication_type", "UserAssignedIdentity"),
            Attribute("storage_user_assigned_identity_id", Expr(f"{identity}.id")),
            Attribute("runtime_name", record.runtime),
            Attribute("runtime_version", record.runtime_version),
            Attribute("instance_memory_in_mb", record.instance_memory_mb),
            Attribute("maximum_instance_count", record.maximum_instances),
            Attribute("https_only", record.https_only),
            Attribute("webdeploy_publish_basic_authentication_enabled", False),
            Block(
                "identity",
                (),
                [
                    Attribute("type", "UserAssigned"),
                    Attribute("identity_ids", [Expr(f"{identity}.id")]),
                ],
            ),
            Block(
                "site_config",
                (),
                [
                    Attribute(
                        "application_insights_connection_string",
                        Expr(f"{address(AppInsights, record.insights)}.connection_string"),
                    ),
                ],
            ),
            Attribute(
                "app_settings", {key: setting(value) for key, value in record.settings.items()}
            ),
            Attribute("depends_on", roles),
        ]
        name = Expr(f"{address(FunctionApp, record.name)}.name")
        return [
            resource("azurerm_function_app_flex_consumption", snake(record.name), *items),
            output("function_app", "The Function App to publish the package to", name),
            output(
                "producer_environment",
                "What a producer's environment needs (it signs in as producer_principal_id)",
                {
                    "DISPATCHER_BACKEND": Expr(f'"azure://${{{account}.name}}"'),
                    "DISPATCHER_STAGE": Expr("var.stage"),
                },
            ),
        ]

    def render(self, plan: AzurePlan) -> dict[str, str]:
        blocks = [block for fragment in self.fragments(plan) for block in fragment]
        text = render_template(
            TEMPLATES,
            "terraform/main.tf.j2",
            deployment=plan.deployment,
            plan=plan,
            queues=plan.of_type(QueueFunction),
            timers=plan.of_type(TimerFunction),
            stage_pattern=STAGE_PATTERN,
            max_stage_length=MAX_STAGE_LENGTH,
            body=document(blocks),
        )
        return {self.filename: text}


def _group(plan: AzurePlan) -> str:
    [group] = plan.of_type(ResourceGroup)
    return group.name


def _account(plan: AzurePlan) -> str:
    [account] = plan.of_type(StorageAccount)
    return account.name


def _account_address(plan: AzurePlan) -> str:
    return address(StorageAccount, _account(plan))
