"""Synth-time settings: CDK context (`-c key=value` or cdk.json) with the defaults below.

Deploy-time values that are secret or differ per deployment (domain, certificates, image tag,
Stripe publishable key, the CloudFront WAF's ARN, ...) are CloudFormation parameters instead
(main_stack.py). docs/deploy-aws.md lists both.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from constructs import Node

# A placeholder account for offline synthesis; `cdk deploy` passes the real one (-c account=...,
# or CDK_DEFAULT_ACCOUNT from the CLI's credentials).
PLACEHOLDER_ACCOUNT = "111111111111"


@dataclass(frozen=True)
class Config:
    account: str = PLACEHOLDER_ACCOUNT
    region: str = "eu-west-1"
    # Availability zones used, fixed so that synthesis needs no look-up (the first N of a, b, c).
    az_count: int = 3
    # Names: every physical name starts with this (tables get table_prefix instead).
    name: str = "encore"
    table_prefix: str = "encore-"  # DYNAMODB_TABLE_PREFIX: the app's default
    vpc_cidr: str = "10.40.0.0/16"
    # API service: Fargate task size and the scaling range.
    api_cpu: int = 2048  # 2 vCPU: one uvicorn worker per vCPU (WEB_CONCURRENCY)
    api_memory: int = 4096
    api_min_tasks: int = 2
    api_max_tasks: int = 30
    # Requests per target (per minute, ALB metric) the request-count policy aims at.
    api_requests_per_target: int = 6000
    api_cpu_target: int = 60
    # Worker service: the background jobs (leases make more than one safe; two for availability).
    worker_cpu: int = 1024
    worker_memory: int = 2048
    worker_tasks: int = 2
    # false: both services at zero tasks (the first deploy, before the Stripe secrets are set).
    services_running: bool = True
    # ElastiCache (Valkey, cluster mode): node type, shards (node groups), replicas per shard.
    redis_engine: str = "valkey"
    redis_engine_version: str = "8.0"
    redis_node_type: str = "cache.r7g.large"
    redis_shards: int = 2
    redis_replicas: int = 1
    log_retention_days: int = 30
    # WAF rate-based rule: requests per client IP within the evaluation window.
    waf_rate_limit: int = 1200
    waf_rate_window_seconds: int = 60
    # Comma separated CIDRs added to TRUSTED_PROXIES besides the VPC. Not needed behind CloudFront
    # (the API reads CloudFront-Viewer-Address: docs/deploy-aws.md, "The client's address").
    trusted_proxies_extra: str = ""
    # Where alarms are mailed (an SNS e-mail subscription); empty: subscribe yourself.
    alarm_email: str = ""
    # An existing Secrets Manager secret holding SMTP_URL; empty: mails go to the task's outbox.
    smtp_secret_arn: str = ""

    @property
    def azs(self) -> list[str]:
        return [f"{self.region}{letter}" for letter in "abc"[: self.az_count]]

    @classmethod
    def from_context(cls, node: Node) -> Config:
        values: dict[str, Any] = {}
        for field in fields(cls):
            key = _camel(field.name)
            raw = node.try_get_context(key)
            if raw is None and field.name == "account":
                raw = os.environ.get("CDK_DEFAULT_ACCOUNT")
            if raw is None:
                continue
            default = field.default
            if isinstance(default, bool):
                values[field.name] = str(raw).lower() in ("1", "true", "yes")
            elif isinstance(default, int):
                values[field.name] = int(raw)
            else:
                values[field.name] = str(raw)
        return cls(**values)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)
