"""The production stack in one region: network, data, compute, edge, events, observability.

docs/deploy-aws.md describes the architecture, the parameters and the deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import (
    CfnOutput,
    CfnParameter,
    Duration,
    Fn,
    RemovalPolicy,
    SecretValue,
    Stack,
)
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from encore_infra import app_tables
from encore_infra.checkov import skip
from encore_infra.config import Config

API_PORT = 8000
# The header CloudFront adds to every request it sends to the ALB; the ALB forwards only
# requests that carry it with the secret value (its security group admits only CloudFront).
ORIGIN_HEADER = "X-Origin-Verify"
# The header CloudFront adds to origin requests with the viewer's IP and port.
VIEWER_ADDRESS_HEADER = "CloudFront-Viewer-Address"
# As docker/Dockerfile's CMD: app.serve (N uvicorn workers, each with its own socket).
API_COMMAND = [
    "python",
    "-m",
    "app.serve",
    "--host",
    "0.0.0.0",  # noqa: S104 - inside the task: the ALB reaches it on the task's VPC address
    "--port",
    str(API_PORT),
    "--no-access-log",
    "--timeout-graceful-shutdown",
    "10",
]
WORKER_COMMAND = ["python", "-m", "app", "worker"]
# The container's own liveness probe, as the Dockerfile's HEALTHCHECK (the ALB asks /readyz).
LIVENESS = [
    "CMD",
    "python",
    "-c",
    f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{API_PORT}/healthz', "
    "timeout=2)",
]
# What the tasks do with DynamoDB (app/storage/dynamo/): items, transactions (their writes are
# authorised per item action, plus ConditionCheckItem), queries on the indexes, and at start
# describing each table and its TTL (ensure_tables: the tables exist, so nothing is created).
DYNAMODB_ACTIONS = [
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
]
# The web app's Content-Security-Policy: app/web.py's content_security_policy(stripe=True), the
# header the app itself sends with index.html (here S3 serves it, so CloudFront adds it).
WEB_CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' https://js.stripe.com https://*.js.stripe.com",
        "style-src 'self'",
        "img-src 'self' data: https://*.stripe.com",
        "font-src 'self'",
        "connect-src 'self' https://api.stripe.com",
        "frame-src https://js.stripe.com https://*.js.stripe.com https://hooks.stripe.com",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)
# Client routes of the single-page app (/concerts/<id>) get index.html; files keep their path.
SPA_ROUTING = """\
function handler(event) {
  var request = event.request;
  var last = request.uri.substring(request.uri.lastIndexOf('/') + 1);
  if (last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}
"""


@dataclass
class Parameters:
    domain: CfnParameter
    cloudfront_certificate: CfnParameter
    alb_certificate: CfnParameter
    origin_domain: CfnParameter
    image_tag: CfnParameter
    web_acl: CfnParameter
    cloudfront_prefix_list: CfnParameter
    stripe_publishable_key: CfnParameter


class EncoreStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, cfg: Config, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        self.cfg = cfg
        self.params = self._parameters()
        self.data_key, self.ops_key = self._keys()
        self.log_bucket = self._log_bucket()
        self.vpc, self.flow_logs = self._network()
        self.tables = self._tables()
        self._security_groups()
        self.redis, self.redis_url = self._redis()
        self.secrets = self._secrets()
        self.bus, self.example_queue, self.example_rule = self._events()
        self.repository = self._repository()
        self._compute()
        self.distribution = self._edge()
        self._observability()
        self._outputs()

    # --- parameters and keys ------------------------------------------------------------------

    def _parameters(self) -> Parameters:
        def param(name: str, description: str, **kwargs: Any) -> CfnParameter:
            return CfnParameter(self, name, type="String", description=description, **kwargs)

        return Parameters(
            domain=param("DomainName", "Where buyers open the web app, e.g. tickets.example.com"),
            cloudfront_certificate=param(
                "CloudFrontCertificateArn",
                "ACM certificate for DomainName, in us-east-1 (CloudFront takes only those)",
                allowed_pattern=r"arn:aws:acm:us-east-1:\d{12}:certificate/.+",
            ),
            alb_certificate=param(
                "AlbCertificateArn",
                "ACM certificate for OriginDomainName, in this stack's region",
            ),
            origin_domain=param(
                "OriginDomainName",
                "A name of yours pointing at the load balancer (CNAME to the AlbDnsName "
                "output), e.g. origin.tickets.example.com: CloudFront connects to it over TLS",
            ),
            image_tag=param("ImageTag", "Tag of the service image in the stack's ECR repository"),
            web_acl=param(
                "CloudFrontWebAclArn",
                "The WebAclArn output of the EncoreEdgeWaf stack (us-east-1)",
            ),
            cloudfront_prefix_list=param(
                "CloudFrontPrefixListId",
                "Id of the managed prefix list com.amazonaws.global.cloudfront.origin-facing in "
                "this region (aws ec2 describe-managed-prefix-lists)",
                allowed_pattern=r"pl-[0-9a-f]+",
            ),
            stripe_publishable_key=param(
                "StripePublishableKey", "Stripe publishable key (pk_live_...): public, not secret"
            ),
        )

    def _keys(self) -> tuple[kms.Key, kms.Key]:
        """data: DynamoDB and ElastiCache (the task roles may use it); ops: logs, secrets, the
        alarm topic and the image repository (the task roles may not)."""
        data = kms.Key(
            self,
            "DataKey",
            description="Encore data at rest: DynamoDB tables, ElastiCache",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        ops = kms.Key(
            self,
            "OpsKey",
            description="Encore logs, secrets, alarm topic, image repository",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        ops.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{self.partition}:logs:{self.region}:{self.account}:*"
                        )
                    }
                },
            )
        )
        # CloudWatch alarms publish to the encrypted alarm topic.
        ops.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        return data, ops

    def _log_group(self, construct_id: str, name: str) -> logs.LogGroup:
        group = logs.LogGroup(
            self,
            construct_id,
            log_group_name=f"/{self.cfg.name}/{name}",
            encryption_key=self.ops_key,
            removal_policy=RemovalPolicy.RETAIN,
        )
        # Any value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...; cfn-lint checks).
        resource = group.node.default_child
        assert isinstance(resource, logs.CfnLogGroup)  # the L2's own resource
        resource.retention_in_days = self.cfg.log_retention_days
        return group

    def _log_bucket(self) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "LogBucket",
            # ALB access logs can only be written to SSE-S3 buckets, not SSE-KMS.
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            # CloudFront's standard logs are written with ACLs.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            enforce_ssl=True,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=Duration.days(90), noncurrent_version_expiration=Duration.days(7)
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        skip(
            bucket,
            CKV_AWS_18="This is the access-log bucket: logging it into itself would loop.",
        )
        return bucket

    # --- network --------------------------------------------------------------------------------

    def _network(self) -> tuple[ec2.Vpc, logs.LogGroup]:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(self.cfg.vpc_cidr),
            availability_zones=self.cfg.azs,
            nat_gateways=self.cfg.az_count,  # one per AZ: an AZ outage leaves the others out
            subnet_configuration=[
                ec2.SubnetConfiguration(name="public", subnet_type=ec2.SubnetType.PUBLIC),
                ec2.SubnetConfiguration(
                    name="app", subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS, cidr_mask=20
                ),
                ec2.SubnetConfiguration(
                    name="data", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=24
                ),
            ],
            # The CDK would remove the default security group's rules with a Lambda-backed
            # custom resource; nothing here uses that group (every resource has its own).
            restrict_default_security_group=False,
            gateway_endpoints={
                "DynamoDb": ec2.GatewayVpcEndpointOptions(
                    service=ec2.GatewayVpcEndpointAwsService.DYNAMODB
                ),
                "S3": ec2.GatewayVpcEndpointOptions(service=ec2.GatewayVpcEndpointAwsService.S3),
            },
        )
        flow_logs = self._log_group("FlowLogs", "vpc-flow-logs")
        vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        return vpc, flow_logs

    def _security_groups(self) -> None:
        vpc = self.vpc
        self.alb_sg = ec2.SecurityGroup(
            self,
            "AlbSg",
            vpc=vpc,
            allow_all_outbound=False,
            description="Load balancer: HTTPS from the CloudFront origin-facing prefix list only",
        )
        cloudfront_peer = ec2.Peer.prefix_list(self.params.cloudfront_prefix_list.value_as_string)
        self.alb_sg.add_ingress_rule(cloudfront_peer, ec2.Port.tcp(443), "HTTPS from CloudFront")
        self.alb_sg.add_ingress_rule(
            cloudfront_peer, ec2.Port.tcp(80), "HTTP from CloudFront (redirected to HTTPS)"
        )
        self.api_sg = ec2.SecurityGroup(
            self, "ApiSg", vpc=vpc, allow_all_outbound=False, description="API tasks"
        )
        self.worker_sg = ec2.SecurityGroup(
            self, "WorkerSg", vpc=vpc, allow_all_outbound=False, description="Worker tasks"
        )
        self.redis_sg = ec2.SecurityGroup(
            self,
            "RedisSg",
            vpc=vpc,
            allow_all_outbound=False,
            description="ElastiCache: from the tasks only",
        )
        self.alb_sg.add_egress_rule(
            self.api_sg, ec2.Port.tcp(API_PORT), "To the API tasks (HTTP inside the VPC)"
        )
        self.api_sg.add_ingress_rule(self.alb_sg, ec2.Port.tcp(API_PORT), "From the load balancer")
        for sg, who in ((self.api_sg, "API"), (self.worker_sg, "worker")):
            sg.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS: AWS APIs, ECR, Stripe"
            )
            sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(587), "SMTP submission")
            sg.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(465), "SMTP over TLS")
            sg.add_egress_rule(self.redis_sg, ec2.Port.tcp(6379), "Redis (TLS)")
            self.redis_sg.add_ingress_rule(sg, ec2.Port.tcp(6379), f"From the {who} tasks")

    # --- data -----------------------------------------------------------------------------------

    def _tables(self) -> dict[str, dynamodb.Table]:
        """Every table as app/storage/dynamo/tables.py defines it (read from that file)."""
        tables: dict[str, dynamodb.Table] = {}
        for spec in app_tables.load().specs:
            table = dynamodb.Table(
                self,
                "Table" + "".join(part.capitalize() for part in spec.name.split("_")),
                table_name=f"{self.cfg.table_prefix}{spec.name}",
                partition_key=dynamodb.Attribute(
                    name=spec.hash_key, type=dynamodb.AttributeType.STRING
                ),
                sort_key=(
                    dynamodb.Attribute(name=spec.range_key, type=dynamodb.AttributeType.STRING)
                    if spec.range_key
                    else None
                ),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                deletion_protection=True,
                encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
                encryption_key=self.data_key,
                time_to_live_attribute=spec.ttl_attribute,
                removal_policy=RemovalPolicy.RETAIN,
            )
            for index in spec.indexes:
                table.add_global_secondary_index(
                    index_name=index.name,
                    partition_key=dynamodb.Attribute(
                        name=index.hash_key, type=dynamodb.AttributeType.STRING
                    ),
                    sort_key=(
                        dynamodb.Attribute(name=index.range_key, type=dynamodb.AttributeType.STRING)
                        if index.range_key
                        else None
                    ),
                    projection_type=dynamodb.ProjectionType[index.projection],
                    non_key_attributes=list(index.include) or None,
                )
            tables[spec.name] = table
        return tables

    def _redis(self) -> tuple[elasticache.CfnReplicationGroup, secretsmanager.Secret]:
        cfg = self.cfg
        auth = secretsmanager.Secret(
            self,
            "RedisAuthToken",
            secret_name=f"{cfg.name}/redis-auth-token",
            description="ElastiCache AUTH token (part of REDIS_URL)",
            encryption_key=self.ops_key,
            # ElastiCache allows 16-128 printable characters; letters and digits keep the URL
            # plain (no percent-encoding in REDIS_URL).
            generate_secret_string=secretsmanager.SecretStringGenerator(
                exclude_punctuation=True, password_length=64
            ),
        )
        subnets = elasticache.CfnSubnetGroup(
            self,
            "RedisSubnets",
            description="Encore Redis: the isolated data subnets",
            subnet_ids=self.vpc.select_subnets(
                subnet_type=ec2.SubnetType.PRIVATE_ISOLATED
            ).subnet_ids,
        )
        major = cfg.redis_engine_version.split(".")[0]
        group = elasticache.CfnReplicationGroup(
            self,
            "Redis",
            replication_group_id=f"{cfg.name}-redis",
            replication_group_description="Encore: seat state, holds, waiting rooms, events",
            engine=cfg.redis_engine,
            engine_version=cfg.redis_engine_version,
            cache_parameter_group_name=f"default.{cfg.redis_engine}{major}.cluster.on",
            cache_node_type=cfg.redis_node_type,
            cluster_mode="enabled",
            num_node_groups=cfg.redis_shards,
            replicas_per_node_group=cfg.redis_replicas,
            automatic_failover_enabled=True,
            multi_az_enabled=True,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            kms_key_id=self.data_key.key_arn,
            auth_token=auth.secret_value.unsafe_unwrap(),
            cache_subnet_group_name=subnets.ref,
            security_group_ids=[self.redis_sg.security_group_id],
            port=6379,
            snapshot_retention_limit=1,
            auto_minor_version_upgrade=True,
        )
        # REDIS_URL for the tasks: TLS (rediss://), the AUTH token, the configuration endpoint;
        # REDIS_CLUSTER=true makes the app use its cluster client (docs/redis-cluster.md).
        url = secretsmanager.Secret(
            self,
            "RedisUrl",
            secret_name=f"{cfg.name}/redis-url",
            description="REDIS_URL: rediss://:<auth token>@<configuration endpoint>:<port>/0",
            encryption_key=self.ops_key,
            secret_string_value=SecretValue.unsafe_plain_text(
                Fn.join(
                    "",
                    [
                        "rediss://:",
                        auth.secret_value.unsafe_unwrap(),
                        "@",
                        group.attr_configuration_end_point_address,
                        ":",
                        group.attr_configuration_end_point_port,
                        "/0",
                    ],
                )
            ),
        )
        # No automatic rotation: the AUTH token is part of REDIS_URL and ElastiCache takes a
        # new one in two steps (ROTATE, then SET): by hand, docs/deploy-aws.md, "Secrets".
        self.redis_auth = auth
        return group, url

    def _secrets(self) -> dict[str, secretsmanager.Secret]:
        """The app's secrets. JWT, ticket and ALTCHA secrets are generated here (random, 64
        letters and digits: what APP_ENV=prod requires); the Stripe ones must be set after the
        first deploy (`aws secretsmanager put-secret-value`): their generated placeholder is not
        a Stripe key, so the app refuses to start, saying which one to set, until then. Rotated
        by hand (automatic rotation would log every buyer out or void issued tickets; Stripe's
        keys come from Stripe's dashboard): docs/deploy-aws.md, "Secrets"."""
        made: dict[str, secretsmanager.Secret] = {}
        for env, name, description in (
            ("JWT_SECRET", "jwt-secret", "JWT_SECRET: signs access tokens"),
            ("TICKET_SECRET", "ticket-secret", "TICKET_SECRET: signs ticket codes"),
            (
                "ALTCHA_HMAC_KEY",
                "altcha-hmac-key",
                "ALTCHA_HMAC_KEY: signs the waiting room's proof-of-work challenges",
            ),
            ("STRIPE_SECRET_KEY", "stripe-secret-key", "STRIPE_SECRET_KEY: set sk_live_..."),
            (
                "STRIPE_WEBHOOK_SECRET",
                "stripe-webhook-secret",
                "STRIPE_WEBHOOK_SECRET: set whsec_... of the webhook endpoint",
            ),
            (
                "ORIGIN_VERIFY",
                "origin-verify",
                "Header value CloudFront sends and the load balancer requires",
            ),
        ):
            secret = secretsmanager.Secret(
                self,
                "".join(part.capitalize() for part in name.split("-")),
                secret_name=f"{self.cfg.name}/{name}",
                description=description,
                encryption_key=self.ops_key,
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    exclude_punctuation=True, password_length=64
                ),
            )
            made[env] = secret
        return made

    # --- events ---------------------------------------------------------------------------------

    def _events(self) -> tuple[events.EventBus, sqs.Queue, events.Rule]:
        """The bus the worker forwards domain events to (EVENTBRIDGE_BUS_NAME: source
        "encore", detail-type the event type) and an example rule: confirmed orders to a
        queue, for a consumer of yours (a CRM, analytics)."""
        bus = events.EventBus(self, "Bus", event_bus_name=f"{self.cfg.name}-events")
        bus.archive(
            "Archive",
            archive_name=f"{self.cfg.name}-events",
            description="Every Encore domain event, replayable for 30 days",
            event_pattern=events.EventPattern(source=["encore"]),
            retention=Duration.days(30),
        )
        dead_letters = sqs.Queue(
            self,
            "OrderConfirmedDeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        queue = sqs.Queue(
            self,
            "OrderConfirmedQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        rule = events.Rule(
            self,
            "OrderConfirmedRule",
            event_bus=bus,
            description="Example: confirmed orders to a queue",
            event_pattern=events.EventPattern(source=["encore"], detail_type=["order.confirmed"]),
            targets=[
                targets.SqsQueue(
                    queue,
                    dead_letter_queue=dead_letters,
                    retry_attempts=20,
                    max_event_age=Duration.hours(24),
                )
            ],
        )
        for q in (queue, dead_letters):
            skip(
                q,
                CKV_AWS_27="Encrypted with SQS-managed keys (SqsManagedSseEnabled); a customer "
                "managed key would need EventBridge in its key policy for no gain here.",
            )
        return bus, queue, rule

    # --- compute --------------------------------------------------------------------------------

    def _repository(self) -> ecr.Repository:
        return ecr.Repository(
            self,
            "Repository",
            repository_name=self.cfg.name,
            image_tag_mutability=ecr.TagMutability.IMMUTABLE,
            image_scan_on_push=True,
            encryption=ecr.RepositoryEncryption.KMS,
            encryption_key=self.ops_key,
            lifecycle_rules=[ecr.LifecycleRule(max_image_count=50)],
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _environment(self) -> dict[str, str]:
        cfg = self.cfg
        domain = self.params.domain.value_as_string
        trusted = ",".join(filter(None, [cfg.vpc_cidr, cfg.trusted_proxies_extra]))
        return {
            "APP_ENV": "prod",
            "STORE": "dynamodb",
            "DYNAMODB_TABLE_PREFIX": cfg.table_prefix,
            "AWS_REGION": self.region,
            "REDIS_CLUSTER": "true",
            "PAYMENT_PROVIDER": "stripe",
            "STRIPE_PUBLISHABLE_KEY": self.params.stripe_publishable_key.value_as_string,
            "PUBLIC_BASE_URL": Fn.join("", ["https://", domain]),
            "MAIL_FROM": Fn.join("", ["Encore tickets <tickets@", domain, ">"]),
            "TRUSTED_PROXIES": trusted,
            "EVENTBRIDGE_BUS_NAME": self.bus.event_bus_name,
            "LOG_JSON": "true",
        }

    def _app_secrets(self) -> dict[str, ecs.Secret]:
        injected = {
            env: ecs.Secret.from_secrets_manager(secret)
            for env, secret in self.secrets.items()
            if env != "ORIGIN_VERIFY"
        }
        injected["REDIS_URL"] = ecs.Secret.from_secrets_manager(self.redis_url)
        if self.cfg.smtp_secret_arn:
            smtp = secretsmanager.Secret.from_secret_complete_arn(
                self, "SmtpUrl", self.cfg.smtp_secret_arn
            )
            injected["SMTP_URL"] = ecs.Secret.from_secrets_manager(smtp)
        return injected

    def _task_role(self, construct_id: str, description: str) -> iam.Role:
        role = iam.Role(
            self,
            construct_id,
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description=description,
        )
        resources = []
        for table in self.tables.values():
            resources += [table.table_arn, f"{table.table_arn}/index/*"]
        role.add_to_policy(iam.PolicyStatement(actions=DYNAMODB_ACTIONS, resources=resources))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                resources=[self.data_key.key_arn],
            )
        )
        return role

    def _task_definition(
        self,
        construct_id: str,
        *,
        cpu: int,
        memory: int,
        task_role: iam.Role,
        execution_role: iam.Role,
    ) -> ecs.FargateTaskDefinition:
        task = ecs.FargateTaskDefinition(
            self,
            construct_id,
            cpu=cpu,
            memory_limit_mib=memory,
            task_role=task_role,
            execution_role=execution_role,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=ecs.CpuArchitecture.X86_64,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        return task

    def _compute(self) -> None:
        cfg = self.cfg
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=self.vpc,
            cluster_name=cfg.name,
            container_insights_v2=ecs.ContainerInsights.ENABLED,
        )
        self.execution_role = iam.Role(
            self,
            "ExecutionRole",
            assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"),
            description="ECS agent: pull the image, write the logs, read the secrets",
        )
        self.api_role = self._task_role("ApiTaskRole", "Encore API tasks")
        self.worker_role = self._task_role("WorkerTaskRole", "Encore worker tasks")
        # The worker forwards domain events to the bus (EVENTBRIDGE_BUS_NAME), and only there.
        self.worker_role.add_to_policy(
            iam.PolicyStatement(actions=["events:PutEvents"], resources=[self.bus.event_bus_arn])
        )
        image = ecs.ContainerImage.from_ecr_repository(
            self.repository, tag=self.params.image_tag.value_as_string
        )
        self.api_logs = self._log_group("ApiLogs", "api")
        self.worker_logs = self._log_group("WorkerLogs", "worker")
        environment = self._environment()
        secrets = self._app_secrets()

        # API: SWEEPER_IN_PROCESS=false, so the background jobs run in the worker service only.
        self.api_task = self._task_definition(
            "ApiTask",
            cpu=cfg.api_cpu,
            memory=cfg.api_memory,
            task_role=self.api_role,
            execution_role=self.execution_role,
        )
        self.api_container = self.api_task.add_container(
            "api",
            image=image,
            command=API_COMMAND,
            environment={
                **environment,
                # The viewer's address as CloudFront writes it (the /api/* behaviour's origin
                # request policy includes it), believed from the ALB (TRUSTED_PROXIES): per-IP
                # limits count per fan, with no list of CloudFront's addresses to keep.
                "CLIENT_IP_HEADER": VIEWER_ADDRESS_HEADER,
                "SWEEPER_IN_PROCESS": "false",
                "WEB_CONCURRENCY": str(max(1, cfg.api_cpu // 1024)),
            },
            secrets=secrets,
            port_mappings=[ecs.PortMapping(container_port=API_PORT)],
            health_check=ecs.HealthCheck(
                command=LIVENESS,
                interval=Duration.seconds(10),
                timeout=Duration.seconds(3),
                retries=3,
                start_period=Duration.seconds(30),
            ),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="api",
                log_group=self.api_logs,
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
            ),
            stop_timeout=Duration.seconds(30),
        )
        # Each seat stream holds a file descriptor; the app lowers SSE_MAX_STREAMS (10,000) to
        # half the process's limit (app/seats/stream.py), so the limit is set, not left to
        # the platform's default.
        self.api_container.add_ulimits(
            ecs.Ulimit(name=ecs.UlimitName.NOFILE, soft_limit=65536, hard_limit=65536)
        )
        self.worker_task = self._task_definition(
            "WorkerTask",
            cpu=cfg.worker_cpu,
            memory=cfg.worker_memory,
            task_role=self.worker_role,
            execution_role=self.execution_role,
        )
        self.worker_task.add_container(
            "worker",
            image=image,
            command=WORKER_COMMAND,
            environment=environment,
            secrets=secrets,
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="worker",
                log_group=self.worker_logs,
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
            ),
            stop_timeout=Duration.seconds(30),
        )

        running = cfg.services_running
        private = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS)
        self.api_service = ecs.FargateService(
            self,
            "ApiService",
            cluster=self.cluster,
            service_name=f"{cfg.name}-api",
            task_definition=self.api_task,
            desired_count=cfg.api_min_tasks if running else 0,
            min_healthy_percent=100,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            health_check_grace_period=Duration.seconds(60),
            security_groups=[self.api_sg],
            vpc_subnets=private,
            assign_public_ip=False,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        self.worker_service = ecs.FargateService(
            self,
            "WorkerService",
            cluster=self.cluster,
            service_name=f"{cfg.name}-worker",
            task_definition=self.worker_task,
            desired_count=cfg.worker_tasks if running else 0,
            min_healthy_percent=50,
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(rollback=True),
            security_groups=[self.worker_sg],
            vpc_subnets=private,
            assign_public_ip=False,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        self._load_balancer()
        self._scaling()
        self._capacity_planner()

    def _load_balancer(self) -> None:
        self.alb = elbv2.ApplicationLoadBalancer(
            self,
            "Alb",
            vpc=self.vpc,
            internet_facing=True,
            security_group=self.alb_sg,
            drop_invalid_header_fields=True,
            deletion_protection=True,
            # Seat streams (SSE) send a heartbeat every 15 s (SSE_HEARTBEAT_SECONDS).
            idle_timeout=Duration.seconds(120),
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        )
        self.alb.log_access_logs(self.log_bucket, prefix="alb")
        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "ApiTargets",
            vpc=self.vpc,
            port=API_PORT,
            protocol=elbv2.ApplicationProtocol.HTTP,  # inside the VPC; TLS ends at the ALB
            target_type=elbv2.TargetType.IP,
            deregistration_delay=Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path="/readyz",
                healthy_http_codes="200",
                interval=Duration.seconds(10),
                timeout=Duration.seconds(5),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )
        self.api_service.attach_to_application_target_group(self.target_group)
        https = self.alb.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            certificates=[
                elbv2.ListenerCertificate.from_arn(self.params.alb_certificate.value_as_string)
            ],
            ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
            default_action=elbv2.ListenerAction.fixed_response(
                403, content_type="text/plain", message_body="Forbidden"
            ),
            open=False,
        )
        elbv2.ApplicationListenerRule(
            self,
            "FromCloudFront",
            listener=https,
            priority=10,
            conditions=[
                elbv2.ListenerCondition.http_header(
                    ORIGIN_HEADER,
                    [self.secrets["ORIGIN_VERIFY"].secret_value.unsafe_unwrap()],
                )
            ],
            action=elbv2.ListenerAction.forward([self.target_group]),
        )
        self.alb.add_listener(
            "Http",
            port=80,
            open=False,
            default_action=elbv2.ListenerAction.redirect(
                protocol="HTTPS", port="443", permanent=True
            ),
        )
        # No WAF of its own: only CloudFront reaches it (security group: CloudFront's
        # origin-facing prefix list; listener: the secret origin header), and CloudFront's WAF
        # has seen every request first.

    def _scaling(self) -> None:
        cfg = self.cfg
        minimum = cfg.api_min_tasks if cfg.services_running else 0
        self.api_scaling = self.api_service.auto_scale_task_count(
            min_capacity=minimum, max_capacity=cfg.api_max_tasks
        )
        self.api_scaling.scale_on_cpu_utilization(
            "Cpu",
            target_utilization_percent=cfg.api_cpu_target,
            scale_out_cooldown=Duration.seconds(60),
            scale_in_cooldown=Duration.seconds(300),
        )
        self.api_scaling.scale_on_request_count(
            "Requests",
            requests_per_target=cfg.api_requests_per_target,
            target_group=self.target_group,
            scale_out_cooldown=Duration.seconds(60),
            scale_in_cooldown=Duration.seconds(300),
        )

    def _capacity_planner(self) -> None:
        """What `python -m app capacity-plan --apply` needs, for an operator's role to attach:
        the scheduled actions (on "*": a scalable target's ARN holds a random id, not the
        service's name, so it cannot be written here) and reading the concerts."""
        concerts = self.tables["concerts"]
        every_table = [t.table_arn for t in self.tables.values()]
        self.capacity_policy = iam.ManagedPolicy(
            self,
            "CapacityPlannerPolicy",
            managed_policy_name=f"{self.cfg.name}-capacity-planner",
            description="python -m app capacity-plan --apply (docs/deploy-aws.md)",
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "application-autoscaling:DescribeScalableTargets",
                        "application-autoscaling:DescribeScheduledActions",
                        "application-autoscaling:PutScheduledAction",
                        "application-autoscaling:DeleteScheduledAction",
                    ],
                    resources=["*"],
                ),
                # The store checks its tables when it opens (ensure_tables), then reads concerts.
                iam.PolicyStatement(
                    actions=["dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive"],
                    resources=every_table,
                ),
                iam.PolicyStatement(
                    actions=["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"],
                    resources=[concerts.table_arn, f"{concerts.table_arn}/index/*"],
                ),
                iam.PolicyStatement(actions=["kms:Decrypt"], resources=[self.data_key.key_arn]),
            ],
        )
        skip(
            self.capacity_policy,
            CKV_AWS_111="Put/DeleteScheduledAction name their target by service namespace and "
            "resource id in the request; the only resource form, the scalable target's ARN, "
            "holds a random id AWS assigns at registration, unknown when this is synthesized.",
        )

    # --- edge -----------------------------------------------------------------------------------

    def _edge(self) -> cloudfront.Distribution:
        p = self.params
        self.web_bucket = s3.Bucket(
            self,
            "WebBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="web-bucket/",
            lifecycle_rules=[s3.LifecycleRule(noncurrent_version_expiration=Duration.days(30))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # SSE-S3: the built web app is public by nature, and a KMS key would need CloudFront
        # in its key policy.
        web_origin = origins.S3BucketOrigin.with_origin_access_control(self.web_bucket)
        api_origin = origins.HttpOrigin(
            p.origin_domain.value_as_string,
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
            origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
            # Also the longest gap between two bytes: seat streams send a heartbeat every 15 s.
            read_timeout=Duration.seconds(60),
            keepalive_timeout=Duration.seconds(60),
            custom_headers={
                ORIGIN_HEADER: self.secrets["ORIGIN_VERIFY"].secret_value.unsafe_unwrap()
            },
        )
        security_headers = cloudfront.ResponseHeadersPolicy(
            self,
            "WebHeaders",
            comment="The web app's security headers (as app/web.py sends them)",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=WEB_CSP, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(365),
                    include_subdomains=True,
                    override=True,
                ),
            ),
        )
        # index.html and other top-level files: revalidated every time (uploaded with
        # Cache-Control: no-cache, which this policy honours: minimum TTL 0).
        html_cache = cloudfront.CachePolicy(
            self,
            "HtmlCache",
            comment="The web app's entry files: as the origin's Cache-Control says",
            default_ttl=Duration.seconds(0),
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.days(1),
            enable_accept_encoding_brotli=True,
            enable_accept_encoding_gzip=True,
        )
        # /assets/*: content-hashed names never change content: a year.
        assets_cache = cloudfront.CachePolicy(
            self,
            "AssetsCache",
            comment="Content-hashed assets: one year",
            default_ttl=Duration.days(365),
            min_ttl=Duration.days(365),
            max_ttl=Duration.days(365),
            enable_accept_encoding_brotli=True,
            enable_accept_encoding_gzip=True,
        )
        spa = cloudfront.Function(
            self,
            "SpaRouting",
            code=cloudfront.FunctionCode.from_inline(SPA_ROUTING),
            runtime=cloudfront.FunctionRuntime.JS_2_0,
            comment="Client routes of the web app get index.html",
        )
        distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Encore: the web app (S3) and /api/* (the load balancer)",
            domain_names=[p.domain.value_as_string],
            certificate=acm.Certificate.from_certificate_arn(
                self, "CloudFrontCertificate", p.cloudfront_certificate.value_as_string
            ),
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            ssl_support_method=cloudfront.SSLMethod.SNI,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            default_root_object="index.html",
            web_acl_id=p.web_acl.value_as_string,
            enable_logging=True,
            log_bucket=self.log_bucket,
            log_file_prefix="cloudfront/",
            default_behavior=cloudfront.BehaviorOptions(
                origin=web_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=html_cache,
                response_headers_policy=security_headers,
                compress=True,
                function_associations=[
                    cloudfront.FunctionAssociation(
                        function=spa, event_type=cloudfront.FunctionEventType.VIEWER_REQUEST
                    )
                ],
            ),
            additional_behaviors={
                "/assets/*": cloudfront.BehaviorOptions(
                    origin=web_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                    cache_policy=assets_cache,
                    response_headers_policy=security_headers,
                    compress=True,
                ),
                # The API: never cached, every header (but Host: CloudFront then validates the
                # origin's certificate against OriginDomainName), cookie and query string
                # forwarded, no compression at the edge (seat streams must flow as they come;
                # the app compresses GET answers itself). The managed AllViewerExceptHostHeader
                # policy also adds CloudFront's viewer headers, CloudFront-Viewer-Address among
                # them (CLIENT_IP_HEADER). A custom policy cannot do both: `allExcept` adds no
                # CloudFront-* header, `allViewerAndWhitelistCloudFront` forwards Host.
                "/api/*": cloudfront.BehaviorOptions(
                    origin=api_origin,
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    compress=False,
                ),
            },
        )
        return distribution

    # --- observability --------------------------------------------------------------------------

    def _redis_node_metrics(self, metric_name: str, prefix: str) -> dict[str, cw.IMetric]:
        """One metric per node: ElastiCache publishes host metrics per node (CacheClusterId
        <group>-<shard>-<node>); an alarm takes at most 10 metrics."""
        group = f"{self.cfg.name}-redis"
        nodes = [
            f"{group}-{shard:04d}-{node:03d}"
            for shard in range(1, self.cfg.redis_shards + 1)
            for node in range(1, self.cfg.redis_replicas + 2)
        ][:10]
        return {
            f"{prefix}{i}": cw.Metric(
                namespace="AWS/ElastiCache",
                metric_name=metric_name,
                dimensions_map={"CacheClusterId": node},
                statistic="Maximum",
                period=Duration.minutes(1),
            )
            for i, node in enumerate(nodes)
        }

    def _observability(self) -> None:
        topic = sns.Topic(
            self,
            "Alarms",
            topic_name=f"{self.cfg.name}-alarms",
            master_key=self.ops_key,
            enforce_ssl=True,
        )
        if self.cfg.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.cfg.alarm_email))
        self.alarm_topic = topic
        action = cw_actions.SnsAction(topic)
        minute = Duration.minutes(1)
        alarms: list[cw.Alarm] = []

        def alarm(construct_id: str, **kwargs: Any) -> cw.Alarm:
            made = cw.Alarm(
                self,
                construct_id,
                alarm_name=f"{self.cfg.name}-{construct_id}",
                treat_missing_data=kwargs.pop(
                    "treat_missing_data", cw.TreatMissingData.NOT_BREACHING
                ),
                **kwargs,
            )
            made.add_alarm_action(action)
            made.add_ok_action(action)
            alarms.append(made)
            return made

        requests = self.alb.metrics.request_count(period=minute, statistic="Sum")
        target_5xx = self.alb.metrics.http_code_target(
            elbv2.HttpCodeTarget.TARGET_5XX_COUNT, period=minute, statistic="Sum"
        )
        elb_5xx = self.alb.metrics.http_code_elb(
            elbv2.HttpCodeElb.ELB_5XX_COUNT, period=minute, statistic="Sum"
        )
        error_rate = cw.MathExpression(
            expression="IF(requests > 50, 100 * (FILL(t5, 0) + FILL(e5, 0)) / requests, 0)",
            using_metrics={"requests": requests, "t5": target_5xx, "e5": elb_5xx},
            label="5xx %",
            period=minute,
        )
        alarm(
            "Api5xxRate",
            alarm_description="More than 2 % of API requests answered 5xx (ALB or tasks)",
            metric=error_rate,
            threshold=2,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        p99 = self.alb.metrics.target_response_time(period=minute, statistic="p99")
        alarm(
            "ApiP99Latency",
            alarm_description="p99 time to the first response byte above 1 s (seat streams "
            "count until their headers only)",
            metric=p99,
            threshold=1,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        healthy = self.target_group.metrics.healthy_host_count(period=minute, statistic="Minimum")
        alarm(
            "ApiNoHealthyTask",
            alarm_description="No API task passes /readyz (Redis or the store down?)",
            metric=healthy,
            threshold=1,
            evaluation_periods=2,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cw.TreatMissingData.BREACHING
            if self.cfg.services_running
            else cw.TreatMissingData.NOT_BREACHING,
        )
        running_api = cw.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions_map={
                "ClusterName": self.cluster.cluster_name,
                "ServiceName": self.api_service.service_name,
            },
            statistic="Minimum",
            period=minute,
        )
        alarm(
            "ApiAtMaxTasks",
            alarm_description="The API runs apiMaxTasks tasks: auto scaling cannot add more "
            "(raise apiMaxTasks, or the capacity plan's --max)",
            metric=running_api,
            threshold=self.cfg.api_max_tasks,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        )
        cpu_nodes = self._redis_node_metrics("EngineCPUUtilization", "cpu")
        redis_cpu = cw.MathExpression(
            expression="MAX([" + ",".join(cpu_nodes) + "])",
            using_metrics=cpu_nodes,
            label="Redis engine CPU % (busiest node)",
            period=minute,
        )
        alarm(
            "RedisEngineCpu",
            alarm_description="A Redis node's engine thread above 75 % (Lua scripts queue up)",
            metric=redis_cpu,
            threshold=75,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        memory_nodes = self._redis_node_metrics("DatabaseMemoryUsagePercentage", "mem")
        redis_memory = cw.MathExpression(
            expression="MAX([" + ",".join(memory_nodes) + "])",
            using_metrics=memory_nodes,
            label="Redis memory % (fullest node)",
            period=minute,
        )
        alarm(
            "RedisMemory",
            alarm_description="A Redis node above 80 % of its memory",
            metric=redis_memory,
            threshold=80,
            evaluation_periods=3,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        for name, table in self.tables.items():
            throttles = cw.MathExpression(
                expression="FILL(r, 0) + FILL(w, 0)",
                using_metrics={
                    "r": table.metric("ReadThrottleEvents", period=minute, statistic="Sum"),
                    "w": table.metric("WriteThrottleEvents", period=minute, statistic="Sum"),
                },
                label=f"{name} throttle events",
                period=minute,
            )
            alarm(
                f"DynamoThrottles-{name}",
                alarm_description=f"DynamoDB throttles reads or writes of {name} (or an index)",
                metric=throttles,
                threshold=0,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            )
        worker_cpu = self.worker_service.metric_cpu_utilization(period=minute)
        alarm(
            "WorkerCpu",
            alarm_description="Worker tasks above 80 % CPU: background jobs (expiry, "
            "admission, mail, event forwarding) fall behind",
            metric=worker_cpu,
            threshold=80,
            evaluation_periods=5,
            datapoints_to_alarm=4,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        failed = cw.Metric(
            namespace="AWS/Events",
            metric_name="FailedInvocations",
            dimensions_map={
                "EventBusName": self.bus.event_bus_name,
                "RuleName": self.example_rule.rule_name,
            },
            statistic="Sum",
            period=Duration.minutes(5),
        )
        alarm(
            "EventRuleFailures",
            alarm_description="The example EventBridge rule could not deliver to its queue",
            metric=failed,
            threshold=0,
            evaluation_periods=1,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        backlog = self.example_queue.metric_approximate_age_of_oldest_message(
            period=Duration.minutes(5), statistic="Maximum"
        )
        alarm(
            "OrderQueueAge",
            alarm_description="Confirmed-order events wait over an hour in the example queue "
            "(its consumer is behind or gone)",
            metric=backlog,
            threshold=3600,
            evaluation_periods=2,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        )
        self.alarms = alarms
        self._dashboard(requests, error_rate, p99, redis_cpu, redis_memory)

    def _dashboard(
        self,
        requests: cw.IMetric,
        error_rate: cw.IMetric,
        p99: cw.IMetric,
        redis_cpu: cw.IMetric,
        redis_memory: cw.IMetric,
    ) -> None:
        minute = Duration.minutes(1)
        us_east = "us-east-1"  # CloudFront's and its WAF's metrics live there
        waf_blocked = cw.Metric(
            namespace="AWS/WAFV2",
            metric_name="BlockedRequests",
            dimensions_map={"WebACL": f"{self.cfg.name}-cloudfront", "Rule": "ALL"},
            statistic="Sum",
            period=minute,
            region=us_east,
        )
        cf_requests = cw.Metric(
            namespace="AWS/CloudFront",
            metric_name="Requests",
            dimensions_map={
                "DistributionId": self.distribution.distribution_id,
                "Region": "Global",
            },
            statistic="Sum",
            period=minute,
            region=us_east,
        )
        running = cw.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions_map={
                "ClusterName": self.cluster.cluster_name,
                "ServiceName": self.api_service.service_name,
            },
            statistic="Average",
            period=minute,
        )
        consumed = [
            t.metric_consumed_write_capacity_units(period=minute, statistic="Sum", label=n)
            for n, t in self.tables.items()
            if n in ("orders", "seat_sales", "tickets")
        ]
        board = cw.Dashboard(self, "OnSale", dashboard_name=f"{self.cfg.name}-on-sale")
        board.add_widgets(
            cw.GraphWidget(title="Requests: CloudFront, ALB", left=[cf_requests, requests]),
            cw.GraphWidget(title="API 5xx %", left=[error_rate]),
            cw.GraphWidget(title="API p99 response time (s)", left=[p99]),
            cw.GraphWidget(
                title="API tasks and CPU",
                left=[running],
                right=[self.api_service.metric_cpu_utilization(period=minute)],
            ),
        )
        board.add_widgets(
            cw.GraphWidget(title="Redis engine CPU % / memory %", left=[redis_cpu, redis_memory]),
            cw.GraphWidget(title="DynamoDB writes (WCU): orders, sales, tickets", left=consumed),
            cw.GraphWidget(title="WAF blocked requests", left=[waf_blocked]),
            cw.AlarmStatusWidget(title="Alarms", alarms=self.alarms),
        )

    # --- outputs --------------------------------------------------------------------------------

    def _outputs(self) -> None:
        cluster = self.cluster.cluster_name
        service = self.api_service.service_name
        outputs = {
            "ClusterName": (cluster, "ECS cluster"),
            "ApiServiceName": (service, "ECS API service (python -m app capacity-plan)"),
            "WorkerServiceName": (self.worker_service.service_name, "ECS worker service"),
            "ApiScalableTarget": (
                Fn.join("/", ["service", cluster, service]),
                "Application Auto Scaling resource id (dimension ecs:service:DesiredCount)",
            ),
            "RepositoryUri": (self.repository.repository_uri, "Push the service image here"),
            "WebBucketName": (self.web_bucket.bucket_name, "Upload frontend/dist here"),
            "DistributionId": (self.distribution.distribution_id, "For cache invalidations"),
            "DistributionDomainName": (
                self.distribution.distribution_domain_name,
                "Point DomainName here (CNAME or alias)",
            ),
            "AlbDnsName": (
                self.alb.load_balancer_dns_name,
                "Point OriginDomainName here (CNAME)",
            ),
            "EventBusName": (self.bus.event_bus_name, "EVENTBRIDGE_BUS_NAME"),
            "OrderConfirmedQueueUrl": (self.example_queue.queue_url, "Example rule's target"),
            "AlarmTopicArn": (self.alarm_topic.topic_arn, "Subscribe to receive alarms"),
            "CapacityPlannerPolicyArn": (
                self.capacity_policy.managed_policy_arn,
                "Attach to the role that runs python -m app capacity-plan --apply",
            ),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
        for env, secret in self.secrets.items():
            CfnOutput(self, f"Secret{secret.node.id}", value=secret.secret_name, description=env)
