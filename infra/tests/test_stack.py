"""The main stack's resources and settings, as synthesized (aws_cdk.assertions)."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template
from conftest import infra_app, only, resources

from encore_infra import app_tables
from encore_infra.main_stack import (
    DYNAMODB_ACTIONS,
    ORIGIN_HEADER,
    VIEWER_ADDRESS_HEADER,
    WEB_CSP,
)
from encore_infra.waf_stack import RATE_RULE

# CloudFront's managed policies (ids fixed by AWS).
CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
YEAR = 365 * 24 * 3600


def _containers(template: Template) -> dict[str, dict[str, Any]]:
    found = {}
    for task in resources(template, "AWS::ECS::TaskDefinition").values():
        for container in task["Properties"]["ContainerDefinitions"]:
            found[container["Name"]] = {**container, "_task": task["Properties"]}
    return found


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def _logical_id(template: Template, kind: str) -> str:
    (logical_id,) = resources(template, kind)
    return logical_id


def _settings_fields() -> set[str]:
    """The environment variables app/settings.py reads: Settings' field names, upper-cased."""
    tree = ast.parse((app_tables.REPO_ROOT / "app" / "settings.py").read_text())
    settings = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    return {
        n.target.id.upper()
        for n in settings.body
        if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    }


def _statements(template: Template, role_logical_prefix: str) -> list[dict[str, Any]]:
    found = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        roles = [r["Ref"] for r in policy["Properties"]["Roles"]]
        if any(r.startswith(role_logical_prefix) for r in roles):
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    actions: set[str] = set()
    for s in statements:
        a = s["Action"]
        actions |= {a} if isinstance(a, str) else set(a)
    return actions


# --- compute -------------------------------------------------------------------------------------


def test_two_fargate_services_with_the_images_commands(template: Template) -> None:
    services = resources(template, "AWS::ECS::Service")
    assert {s["Properties"]["ServiceName"] for s in services.values()} == {
        "encore-api",
        "encore-worker",
    }
    for service in services.values():
        props = service["Properties"]
        assert props["LaunchType"] == "FARGATE"
        network = props["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network["AssignPublicIp"] == "DISABLED"
        assert props["DeploymentConfiguration"]["DeploymentCircuitBreaker"] == {
            "Enable": True,
            "Rollback": True,
        }
    containers = _containers(template)
    assert containers["api"]["Command"][:3] == ["python", "-m", "app.serve"]
    assert containers["api"]["Command"][3:7] == ["--host", "0.0.0.0", "--port", "8000"]
    assert containers["worker"]["Command"] == ["python", "-m", "app", "worker"]
    for container in containers.values():
        assert container["_task"]["RequiresCompatibilities"] == ["FARGATE"]
        assert container["_task"]["NetworkMode"] == "awsvpc"


def test_cluster_has_container_insights(template: Template) -> None:
    cluster = only(template, "AWS::ECS::Cluster")
    assert {"Name": "containerInsights", "Value": "enabled"} in cluster["Properties"][
        "ClusterSettings"
    ]


def test_api_tasks_may_hold_the_seat_streams(template: Template) -> None:
    """SSE_MAX_STREAMS (10,000 by default) is capped at half the descriptor limit."""
    (limit,) = _containers(template)["api"]["Ulimits"]
    assert limit == {"Name": "nofile", "SoftLimit": 65536, "HardLimit": 65536}


def test_example_rule_matches_the_forwarders_source(template: Template) -> None:
    """The forwarder sends source EVENTBRIDGE_SOURCE (app/settings.py's default)."""
    tree = ast.parse((app_tables.REPO_ROOT / "app" / "settings.py").read_text())
    (default,) = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.AnnAssign)
        and isinstance(node.target, ast.Name)
        and node.target.id == "eventbridge_source"
    ]
    assert isinstance(default, ast.Call)
    source = next(k.value for k in default.keywords if k.arg == "default")
    assert isinstance(source, ast.Constant)
    rule = only(template, "AWS::Events::Rule")["Properties"]
    assert rule["EventPattern"]["source"] == [source.value]
    for container in _containers(template).values():
        assert "EVENTBRIDGE_SOURCE" not in _env(container)  # the default, as the rule says


def test_background_jobs_run_in_the_worker_only(template: Template) -> None:
    containers = _containers(template)
    assert _env(containers["api"])["SWEEPER_IN_PROCESS"] == "false"
    assert "SWEEPER_IN_PROCESS" not in _env(containers["worker"])  # default true: jobs run


def test_the_app_is_configured_for_production_on_aws(template: Template) -> None:
    for container in _containers(template).values():
        env = _env(container)
        assert env["APP_ENV"] == "prod"
        assert env["STORE"] == "dynamodb"
        assert env["DYNAMODB_TABLE_PREFIX"] == "encore-"
        assert env["AWS_REGION"] == "eu-west-1"
        assert env["REDIS_CLUSTER"] == "true"
        assert env["PAYMENT_PROVIDER"] == "stripe"
        assert env["EVENTBRIDGE_BUS_NAME"] == {
            "Ref": _logical_id(template, "AWS::Events::EventBus")
        }
        assert env["TRUSTED_PROXIES"].startswith("10.40.0.0/16")


def test_the_api_reads_the_viewer_address_cloudfront_adds(template: Template) -> None:
    """Per-IP limits count per fan with no list of CloudFront's addresses to keep: CloudFront
    adds CloudFront-Viewer-Address, the API believes it from the ALB (the VPC) only."""
    containers = _containers(template)
    api = _env(containers["api"])
    assert VIEWER_ADDRESS_HEADER == "CloudFront-Viewer-Address"
    assert api["CLIENT_IP_HEADER"] == VIEWER_ADDRESS_HEADER
    assert api["TRUSTED_PROXIES"] == "10.40.0.0/16"  # the VPC (the ALB) alone by default
    assert "CLIENT_IP_HEADER" not in _env(containers["worker"])  # it serves no requests
    # CloudFront adds the header only if the behaviour's origin request policy includes it: the
    # managed AllViewerExceptHostHeader does (with CloudFront's other viewer headers). A custom
    # policy would not: `allExcept` adds no CloudFront-* header, and
    # `allViewerAndWhitelistCloudFront` forwards the viewer's Host, which fails the check of the
    # ALB's certificate (OriginDomainName).
    assert _behaviours(template)["/api/*"]["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert resources(template, "AWS::CloudFront::OriginRequestPolicy") == {}


def test_trusted_proxies_extra_is_added_to_the_vpc(tmp_path: Path) -> None:
    template = _synth(tmp_path, trustedProxiesExtra="192.0.2.0/24")
    api = _env(_containers(template)["api"])
    assert api["TRUSTED_PROXIES"] == "10.40.0.0/16,192.0.2.0/24"
    assert api["CLIENT_IP_HEADER"] == VIEWER_ADDRESS_HEADER


def test_every_variable_set_is_one_the_app_reads(template: Template) -> None:
    """A misspelt name would be ignored by the app (pydantic-settings ignores extras)."""
    known = _settings_fields() | {"WEB_CONCURRENCY"}  # WEB_CONCURRENCY: app/serve.py
    for name, container in _containers(template).items():
        names = set(_env(container)) | {s["Name"] for s in container["Secrets"]}
        assert names - known == set(), f"{name}: {sorted(names - known)} unknown to the app"


# What APP_ENV=prod may leave unset (app/settings.py, _production_problems): only checked when set.
OPTIONAL_IN_PROD = {"JWT_PREVIOUS_SECRETS", "ADMIN_PASSWORD"}


def _production_requirements() -> set[str]:
    """The settings app/settings.py's production check reads (settings.<field>), upper-cased."""
    tree = ast.parse((app_tables.REPO_ROOT / "app" / "settings.py").read_text())
    checks = {"_production_problems", "_stripe_problems"}
    fields = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in checks:
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Attribute)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == "settings"
                ):
                    fields.add(sub.attr.upper())
    return fields


def test_every_setting_production_requires_is_given(template: Template) -> None:
    """A task refused at start (APP_ENV=prod, a secret missing) would never become ready."""
    required = _production_requirements()
    assert {"JWT_SECRET", "TICKET_SECRET", "STRIPE_SECRET_KEY"} <= required  # the scan works
    for name, container in _containers(template).items():
        given = set(_env(container)) | {s["Name"] for s in container["Secrets"]}
        assert required - OPTIONAL_IN_PROD - given == set(), f"{name} lacks them"


def test_secrets_are_injected_from_secrets_manager(template: Template) -> None:
    wanted = {
        "JWT_SECRET",
        "TICKET_SECRET",
        "ALTCHA_HMAC_KEY",
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
    }
    secrets = resources(template, "AWS::SecretsManager::Secret")
    for container in _containers(template).values():
        injected = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
        assert wanted | {"REDIS_URL"} <= set(injected)
        for value in injected.values():
            assert value["Ref"] in secrets  # a secret of this stack, by ARN
        env = _env(container)
        assert not (wanted | {"REDIS_URL"}) & set(env), "a secret in plain environment"
    # The generated ones satisfy APP_ENV=prod (app/settings.py: >= 32 characters, random).
    for key in ("JwtSecret", "TicketSecret", "AltchaHmacKey"):
        (secret,) = [s for k, s in secrets.items() if k.startswith(key)]
        generator = secret["Properties"]["GenerateSecretString"]
        assert generator["PasswordLength"] >= 32
        assert generator["ExcludePunctuation"] is True
        assert secret["Properties"]["KmsKeyId"]


def test_health_checks(template: Template) -> None:
    group = only(template, "AWS::ElasticLoadBalancingV2::TargetGroup")["Properties"]
    assert group["HealthCheckPath"] == "/readyz"
    assert group["Matcher"] == {"HttpCode": "200"}
    assert group["TargetType"] == "ip"
    assert group["Port"] == 8000
    api = _containers(template)["api"]
    assert "/healthz" in api["HealthCheck"]["Command"][-1]


def test_api_scales_on_requests_and_cpu(template: Template) -> None:
    target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert target["ScalableDimension"] == "ecs:service:DesiredCount"
    assert target["MinCapacity"] == 2
    assert target["MaxCapacity"] == 30
    assert target["ServiceNamespace"] == "ecs"
    metrics = set()
    for policy in resources(template, "AWS::ApplicationAutoScaling::ScalingPolicy").values():
        config = policy["Properties"]["TargetTrackingScalingPolicyConfiguration"]
        metrics.add(config["PredefinedMetricSpecification"]["PredefinedMetricType"])
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}


def test_outputs_for_the_capacity_plan(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    for name in (
        "ClusterName",
        "ApiServiceName",
        "ApiScalableTarget",
        "EventBusName",
        "CapacityPlannerPolicyArn",
    ):
        assert name in outputs
    target = json.dumps(outputs["ApiScalableTarget"]["Value"])
    assert '"service"' in target


# --- IAM -----------------------------------------------------------------------------------------


def test_task_roles_are_least_privilege(template: Template) -> None:
    api = _statements(template, "ApiTaskRole")
    worker = _statements(template, "WorkerTaskRole")
    assert _actions(api) == set(DYNAMODB_ACTIONS) | {
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:DescribeKey",
    }
    assert _actions(worker) == _actions(api) | {"events:PutEvents"}
    for statement in api + worker:
        assert statement["Effect"] == "Allow"
        assert statement["Resource"] != "*"
        assert not any(a.endswith("*") for a in _actions([statement]))
    (put_events,) = [s for s in worker if s["Action"] == "events:PutEvents"]
    bus = _logical_id(template, "AWS::Events::EventBus")
    assert put_events["Resource"] == {"Fn::GetAtt": [bus, "Arn"]}
    tables = {k for k, v in resources(template, "AWS::DynamoDB::Table").items() if v is not None}
    (dynamo,) = [s for s in api if "dynamodb:GetItem" in _actions([s])]
    referenced = {json.dumps(r) for r in dynamo["Resource"]}
    for table in tables:
        assert any(table in r for r in referenced), f"{table} missing from the API role"
    assert len(dynamo["Resource"]) == 2 * len(tables)  # each table and its indexes


def test_capacity_planner_policy(template: Template) -> None:
    """What `python -m app capacity-plan --apply` calls (app/workers/capacity.py), no more."""
    policy = only(template, "AWS::IAM::ManagedPolicy")["Properties"]
    statements = policy["PolicyDocument"]["Statement"]
    scaling = {a for a in _actions(statements) if a.startswith("application-autoscaling:")}
    assert scaling == {
        "application-autoscaling:DescribeScalableTargets",
        "application-autoscaling:DescribeScheduledActions",
        "application-autoscaling:PutScheduledAction",
        "application-autoscaling:DeleteScheduledAction",
    }
    source = (app_tables.REPO_ROOT / "app" / "workers" / "capacity.py").read_text()
    for action in scaling:
        call = "".join("_" + c.lower() if c.isupper() else c for c in action.split(":")[1]).lstrip(
            "_"
        )
        assert f".{call}(" in source, f"{call} no longer called: drop {action}"
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert not writes & _actions(statements)


def test_execution_role_reads_only_the_secrets_it_injects(template: Template) -> None:
    statements = _statements(template, "ExecutionRole")
    actions = _actions(statements)
    assert "secretsmanager:GetSecretValue" in actions
    assert not any(a.startswith("dynamodb:") or a.startswith("events:") for a in actions)
    secret_reads = [s for s in statements if "secretsmanager:GetSecretValue" in _actions([s])]
    resources_read = json.dumps([s["Resource"] for s in secret_reads])
    for name in ("JwtSecret", "TicketSecret", "StripeSecretKey", "StripeWebhookSecret"):
        assert name in resources_read
    assert "OriginVerify" not in resources_read  # the tasks never see CloudFront's header
    assert "RedisAuthToken" not in resources_read  # only REDIS_URL, which contains it


# --- data ----------------------------------------------------------------------------------------


def test_redis_cluster_mode_tls_auth_multi_az(template: Template) -> None:
    group = only(template, "AWS::ElastiCache::ReplicationGroup")["Properties"]
    assert group["Engine"] == "valkey"
    assert group["ClusterMode"] == "enabled"
    assert group["CacheParameterGroupName"] == "default.valkey8.cluster.on"
    assert group["NumNodeGroups"] == 2
    assert group["ReplicasPerNodeGroup"] == 1
    assert group["TransitEncryptionEnabled"] is True
    assert group["TransitEncryptionMode"] == "required"
    assert group["AtRestEncryptionEnabled"] is True
    assert group["MultiAZEnabled"] is True
    assert group["AutomaticFailoverEnabled"] is True
    assert "{{resolve:secretsmanager:" in json.dumps(group["AuthToken"])
    url = next(
        s
        for k, s in resources(template, "AWS::SecretsManager::Secret").items()
        if k.startswith("RedisUrl")
    )
    text = json.dumps(url["Properties"]["SecretString"])
    assert '"rediss://:{{resolve:secretsmanager:' in text
    assert "ConfigurationEndPoint.Address" in text


def test_redis_and_tasks_are_in_private_subnets(template: Template) -> None:
    subnets = resources(template, "AWS::EC2::Subnet")
    public = {k for k, v in subnets.items() if v["Properties"]["MapPublicIpOnLaunch"] is True}
    group = only(template, "AWS::ElastiCache::SubnetGroup")["Properties"]
    for service in resources(template, "AWS::ECS::Service").values():
        ids = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
        assert not {s["Ref"] for s in ids} & public
    assert not {s["Ref"] for s in group["SubnetIds"]} & public
    assert len({v["Properties"]["AvailabilityZone"] for v in subnets.values()}) == 3
    flow = only(template, "AWS::EC2::FlowLog")["Properties"]
    assert flow["TrafficType"] == "ALL"


def test_load_balancer_admits_only_cloudfront(template: Template) -> None:
    groups = resources(template, "AWS::EC2::SecurityGroup")
    (alb_sg_id,) = [k for k in groups if k.startswith("AlbSg")]
    assert "SecurityGroupIngress" not in groups[alb_sg_id]["Properties"]
    ingress = [
        r["Properties"]
        for r in resources(template, "AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"]["Fn::GetAtt"][0] == alb_sg_id
    ]
    assert {r["FromPort"] for r in ingress} == {80, 443}
    assert all(r["SourcePrefixListId"] == {"Ref": "CloudFrontPrefixListId"} for r in ingress)
    listeners = resources(template, "AWS::ElasticLoadBalancingV2::Listener")
    by_port = {v["Properties"]["Port"]: v["Properties"] for v in listeners.values()}
    assert by_port[443]["Protocol"] == "HTTPS"
    assert by_port[443]["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    assert by_port[443]["DefaultActions"][0]["Type"] == "fixed-response"
    assert by_port[80]["DefaultActions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    rule = only(template, "AWS::ElasticLoadBalancingV2::ListenerRule")["Properties"]
    condition = rule["Conditions"][0]
    assert condition["Field"] == "http-header"
    assert condition["HttpHeaderConfig"]["HttpHeaderName"] == ORIGIN_HEADER
    assert "{{resolve:secretsmanager:" in json.dumps(condition["HttpHeaderConfig"]["Values"])
    lb = only(template, "AWS::ElasticLoadBalancingV2::LoadBalancer")["Properties"]
    attributes = {a["Key"]: a["Value"] for a in lb["LoadBalancerAttributes"]}
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"


# --- edge ----------------------------------------------------------------------------------------


def _behaviours(template: Template) -> dict[str, dict[str, Any]]:
    config = only(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    found = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    found["default"] = config["DefaultCacheBehavior"]
    return found


def _cache_policy(template: Template, behaviour: dict[str, Any]) -> dict[str, Any]:
    ref = behaviour["CachePolicyId"]["Ref"]
    policy: dict[str, Any] = template.to_json()["Resources"][ref]["Properties"]
    config: dict[str, Any] = policy["CachePolicyConfig"]
    return config


def test_cloudfront_api_behaviour_passes_everything_through(template: Template) -> None:
    api = _behaviours(template)["/api/*"]
    assert api["CachePolicyId"] == CACHING_DISABLED
    assert api["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert api["Compress"] is False  # seat streams (SSE) flow as the app sends them
    assert api["ViewerProtocolPolicy"] == "https-only"
    assert set(api["AllowedMethods"]) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
        "PATCH",
        "POST",
        "DELETE",
    }
    config = only(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    (origin,) = [o for o in config["Origins"] if o["Id"] == api["TargetOriginId"]]
    custom = origin["CustomOriginConfig"]
    assert custom["OriginProtocolPolicy"] == "https-only"
    assert custom["OriginSSLProtocols"] == ["TLSv1.2"]
    assert custom["OriginReadTimeout"] == 60  # > the 15 s SSE heartbeat
    assert origin["DomainName"] == {"Ref": "OriginDomainName"}
    assert [h["HeaderName"] for h in origin["OriginCustomHeaders"]] == [ORIGIN_HEADER]


def test_cloudfront_web_app_caching(template: Template) -> None:
    behaviours = _behaviours(template)
    assets = _cache_policy(template, behaviours["/assets/*"])
    assert assets["DefaultTTL"] == assets["MinTTL"] == YEAR
    html = _cache_policy(template, behaviours["default"])
    assert html["DefaultTTL"] == 0
    assert html["MinTTL"] == 0
    for key in ("default", "/assets/*"):
        assert behaviours[key]["ViewerProtocolPolicy"] == "redirect-to-https"
        assert behaviours[key]["Compress"] is True
    config = only(template, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"]
    (web,) = [o for o in config["Origins"] if o["Id"] == behaviours["default"]["TargetOriginId"]]
    assert web["OriginAccessControlId"]  # S3 with origin access control, no public bucket
    assert config["ViewerCertificate"]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert config["ViewerCertificate"]["AcmCertificateArn"] == {"Ref": "CloudFrontCertificateArn"}
    assert config["WebACLId"] == {"Ref": "CloudFrontWebAclArn"}
    assert config["Aliases"] == [{"Ref": "DomainName"}]
    headers = only(template, "AWS::CloudFront::ResponseHeadersPolicy")["Properties"]
    csp = headers["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]["ContentSecurityPolicy"]
    assert csp["ContentSecurityPolicy"] == WEB_CSP


def test_web_app_csp_is_the_apps(template: Template) -> None:
    """The CSP CloudFront adds is the one app/web.py sends (with Stripe on)."""
    source = (app_tables.REPO_ROOT / "app" / "web.py").read_text()
    for directive in WEB_CSP.split("; "):
        name = directive.split(" ")[0]
        assert f'"{name} ' in source or f'f"{name} ' in source, name


def test_waf_rate_rule_and_managed_rules(waf_template: Template) -> None:
    acl = only(waf_template, "AWS::WAFv2::WebACL")["Properties"]
    assert acl["Scope"] == "CLOUDFRONT"
    rules = {r["Name"]: r for r in acl["Rules"]}
    rate = rules[RATE_RULE]
    statement = rate["Statement"]["RateBasedStatement"]
    assert statement["AggregateKeyType"] == "IP"
    assert statement["Limit"] == 1200
    assert statement["EvaluationWindowSec"] == 60
    assert rate["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429
    # Stripe's webhooks are not counted (nor are they by the app's limits).
    exempt = statement["ScopeDownStatement"]["NotStatement"]["Statement"]["ByteMatchStatement"]
    assert exempt["SearchString"] == "/api/v1/webhooks/"
    assert exempt["PositionalConstraint"] == "STARTS_WITH"
    assert "UriPath" in exempt["FieldToMatch"]
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= set(rules)


def test_waf_stack_is_in_us_east_1(stacks: tuple[Any, Any]) -> None:
    waf, main = stacks
    assert waf.region == "us-east-1"
    assert main.region == "eu-west-1"


# --- events --------------------------------------------------------------------------------------


def test_event_bus_and_example_rule(template: Template) -> None:
    bus = only(template, "AWS::Events::EventBus")["Properties"]
    assert bus["Name"] == "encore-events"
    rule = only(template, "AWS::Events::Rule")["Properties"]
    assert rule["EventPattern"] == {"source": ["encore"], "detail-type": ["order.confirmed"]}
    (target,) = rule["Targets"]
    assert target["DeadLetterConfig"]["Arn"]
    assert "Fn::GetAtt" in target["Arn"]


# --- observability -------------------------------------------------------------------------------


def test_log_groups_have_retention_and_encryption(template: Template) -> None:
    groups = resources(template, "AWS::Logs::LogGroup")
    names = {g["Properties"]["LogGroupName"] for g in groups.values()}
    assert {"/encore/api", "/encore/worker", "/encore/vpc-flow-logs"} <= names
    for group in groups.values():
        assert group["Properties"]["RetentionInDays"] == 30
        assert group["Properties"]["KmsKeyId"]
    containers = _containers(template)
    for name in ("api", "worker"):
        assert containers[name]["LogConfiguration"]["LogDriver"] == "awslogs"


def test_alarms_cover_the_on_sale_risks(template: Template) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    by_name = {a["Properties"]["AlarmName"]: a["Properties"] for a in alarms.values()}
    expected = {
        "encore-Api5xxRate",
        "encore-ApiP99Latency",
        "encore-ApiNoHealthyTask",
        "encore-ApiAtMaxTasks",
        "encore-RedisEngineCpu",
        "encore-RedisMemory",
        "encore-WorkerCpu",
        "encore-EventRuleFailures",
        "encore-OrderQueueAge",
    } | {f"encore-DynamoThrottles-{s.name}" for s in app_tables.load().specs}
    assert expected <= set(by_name)
    topic = only(template, "AWS::SNS::Topic")
    assert topic["Properties"]["KmsMasterKeyId"]
    for props in by_name.values():
        assert props["AlarmActions"], props["AlarmName"]
    cpu = json.dumps(by_name["encore-RedisEngineCpu"]["Metrics"])
    assert "EngineCPUUtilization" in cpu
    assert "encore-redis-0002-002" in cpu
    memory = json.dumps(by_name["encore-RedisMemory"]["Metrics"])
    assert "DatabaseMemoryUsagePercentage" in memory
    p99 = json.dumps(by_name["encore-ApiP99Latency"])
    assert "TargetResponseTime" in p99
    assert "p99" in p99
    throttles = json.dumps(by_name["encore-DynamoThrottles-seat_sales"]["Metrics"])
    assert "WriteThrottleEvents" in throttles
    assert "ReadThrottleEvents" in throttles


def test_on_sale_dashboard(template: Template) -> None:
    board = only(template, "AWS::CloudWatch::Dashboard")["Properties"]
    assert board["DashboardName"] == "encore-on-sale"
    body = json.dumps(board["DashboardBody"])
    for metric in ("RequestCount", "EngineCPUUtilization", "RunningTaskCount", "BlockedRequests"):
        assert metric in body, metric


# --- context -------------------------------------------------------------------------------------


def _synth(tmp_path: Path, **context: str) -> Template:
    app = cdk.App(outdir=str(tmp_path), context=context)
    _, main = infra_app.build(app)
    return Template.from_stack(main)


def test_first_deploy_runs_no_task(tmp_path: Path) -> None:
    """servicesRunning=false: the services exist with no task (nothing to pull yet)."""
    template = _synth(tmp_path, servicesRunning="false")
    for service in resources(template, "AWS::ECS::Service").values():
        assert service["Properties"]["DesiredCount"] == 0
    target = only(template, "AWS::ApplicationAutoScaling::ScalableTarget")["Properties"]
    assert target["MinCapacity"] == 0


def test_smtp_secret_and_sizes_from_context(tmp_path: Path) -> None:
    arn = "arn:aws:secretsmanager:eu-west-1:111111111111:secret:encore/smtp-url-AbCdEf"
    template = _synth(
        tmp_path,
        smtpSecretArn=arn,
        apiCpu="4096",
        apiMemory="8192",
        redisShards="3",
        redisNodeType="cache.r7g.xlarge",
    )
    containers = _containers(template)
    for container in containers.values():
        (smtp,) = [s for s in container["Secrets"] if s["Name"] == "SMTP_URL"]
        assert smtp["ValueFrom"] == arn
    assert containers["api"]["_task"]["Cpu"] == "4096"
    assert _env(containers["api"])["WEB_CONCURRENCY"] == "4"
    group = only(template, "AWS::ElastiCache::ReplicationGroup")["Properties"]
    assert group["NumNodeGroups"] == 3
    assert group["CacheNodeType"] == "cache.r7g.xlarge"


def test_no_custom_resources_or_assets(template: Template, waf_template: Template) -> None:
    """Nothing runs code at deploy time (no Lambda-backed custom resource, no asset to upload):
    what checkov and cfn-lint see is all that is created."""
    for t in (template, waf_template):
        kinds = {r["Type"] for r in t.to_json()["Resources"].values()}
        assert not {k for k in kinds if k.startswith("Custom::") or "Lambda" in k}, kinds


def test_synthesis_is_deterministic(tmp_path: Path) -> None:
    """Offline and the same on every machine: two syntheses give the same templates."""
    first = _synth(tmp_path / "a").to_json()
    second = _synth(tmp_path / "b").to_json()
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
