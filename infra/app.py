"""Synthesize Encore's AWS stacks: `python infra/app.py` (offline), or `cdk synth|deploy`.

Writes the CloudFormation templates to infra/cdk.out/ (CDK_OUTDIR overrides, as the CDK CLI
sets it). Settings: CDK context (`-c key=value`), see encore_infra/config.py and
docs/deploy-aws.md.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import aws_cdk as cdk  # noqa: E402

from encore_infra.config import Config  # noqa: E402
from encore_infra.main_stack import EncoreStack  # noqa: E402
from encore_infra.waf_stack import EdgeWafStack  # noqa: E402

MAIN_STACK = "Encore"
WAF_STACK = "EncoreEdgeWaf"


def build(app: cdk.App) -> tuple[EdgeWafStack, EncoreStack]:
    cfg = Config.from_context(app.node)
    waf = EdgeWafStack(
        app,
        WAF_STACK,
        cfg=cfg,
        env=cdk.Environment(account=cfg.account, region="us-east-1"),
        description="Encore: the CloudFront web ACL (WAF for CloudFront lives in us-east-1)",
    )
    main = EncoreStack(
        app,
        MAIN_STACK,
        cfg=cfg,
        env=cdk.Environment(account=cfg.account, region=cfg.region),
        description="Encore: network, data, ECS services, CloudFront, events, observability",
    )
    for stack in (waf, main):
        cdk.Tags.of(stack).add("project", "encore")
    return waf, main


def main() -> None:
    app = cdk.App(outdir=os.environ.get("CDK_OUTDIR", str(HERE / "cdk.out")))
    build(app)
    app.synth()


if __name__ == "__main__":
    main()
