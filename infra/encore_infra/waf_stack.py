"""The CloudFront WAF: a web ACL of scope CLOUDFRONT, which AWS only creates in us-east-1.

So it is a stack of its own, deployed to us-east-1 first; the main stack takes its ARN as the
`CloudFrontWebAclArn` parameter (no cross-region references: those need custom resources and an
account at synthesis).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from encore_infra.config import Config

RATE_RULE = "RateLimitPerIp"
# Not counted by the rate rule, as the app does not limit them either (docs/rate-limits.md):
# Stripe's webhooks come from a few addresses, thousands a minute during an on-sale, and a
# refused delivery only delays a confirmation.
UNLIMITED_PREFIX = "/api/v1/webhooks/"
# Body size: the app takes up to MAX_BODY_BYTES (256 KiB; a venue layout is large), the common
# rule set blocks bodies over 8 KiB. Counted instead of blocked; the app refuses with 413.
COUNTED_COMMON_RULES = ("SizeRestrictions_BODY",)


def _visibility(name: str) -> wafv2.CfnWebACL.VisibilityConfigProperty:
    return wafv2.CfnWebACL.VisibilityConfigProperty(
        cloud_watch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True
    )


def _managed(
    name: str, priority: int, counted: tuple[str, ...] = ()
) -> wafv2.CfnWebACL.RuleProperty:
    overrides: Any = [
        wafv2.CfnWebACL.RuleActionOverrideProperty(
            name=rule, action_to_use=wafv2.CfnWebACL.RuleActionProperty(count={})
        )
        for rule in counted
    ] or None
    return wafv2.CfnWebACL.RuleProperty(
        name=name,
        priority=priority,
        override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
        statement=wafv2.CfnWebACL.StatementProperty(
            managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                vendor_name="AWS", name=name, rule_action_overrides=overrides
            )
        ),
        visibility_config=_visibility(name),
    )


def web_acl_rules(cfg: Config) -> list[wafv2.CfnWebACL.RuleProperty]:
    rate = wafv2.CfnWebACL.RuleProperty(
        name=RATE_RULE,
        priority=0,
        action=wafv2.CfnWebACL.RuleActionProperty(
            block=wafv2.CfnWebACL.BlockActionProperty(
                custom_response=wafv2.CfnWebACL.CustomResponseProperty(
                    response_code=429,
                    response_headers=[
                        wafv2.CfnWebACL.CustomHTTPHeaderProperty(
                            name="Retry-After", value=str(cfg.waf_rate_window_seconds)
                        )
                    ],
                )
            )
        ),
        statement=wafv2.CfnWebACL.StatementProperty(
            rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                aggregate_key_type="IP",
                limit=cfg.waf_rate_limit,
                evaluation_window_sec=cfg.waf_rate_window_seconds,
                scope_down_statement=wafv2.CfnWebACL.StatementProperty(
                    not_statement=wafv2.CfnWebACL.NotStatementProperty(
                        statement=wafv2.CfnWebACL.StatementProperty(
                            byte_match_statement=wafv2.CfnWebACL.ByteMatchStatementProperty(
                                field_to_match=wafv2.CfnWebACL.FieldToMatchProperty(uri_path={}),
                                positional_constraint="STARTS_WITH",
                                search_string=UNLIMITED_PREFIX,
                                text_transformations=[
                                    wafv2.CfnWebACL.TextTransformationProperty(
                                        priority=0, type="NONE"
                                    )
                                ],
                            )
                        )
                    )
                ),
            )
        ),
        visibility_config=_visibility(RATE_RULE),
    )
    return [
        rate,
        _managed("AWSManagedRulesAmazonIpReputationList", 1),
        _managed("AWSManagedRulesCommonRuleSet", 2, COUNTED_COMMON_RULES),
        _managed("AWSManagedRulesKnownBadInputsRuleSet", 3),
    ]


class EdgeWafStack(Stack):
    """us-east-1: the web ACL CloudFront uses."""

    def __init__(self, scope: Construct, construct_id: str, *, cfg: Config, **kwargs: Any):
        super().__init__(scope, construct_id, **kwargs)
        acl = wafv2.CfnWebACL(
            self,
            "CloudFrontWebAcl",
            name=f"{cfg.name}-cloudfront",
            scope="CLOUDFRONT",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            rules=web_acl_rules(cfg),
            visibility_config=_visibility(f"{cfg.name}-cloudfront"),
        )
        CfnOutput(
            self,
            "WebAclArn",
            value=acl.attr_arn,
            description="Pass to the main stack: --parameters CloudFrontWebAclArn=<this>",
        )
