"""Checkov skips, each on the resource it concerns and with its reason (in the template)."""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct


def skip(construct: IConstruct, **reasons: str) -> None:
    """skip(bucket, CKV_AWS_18="why"): checkov reads Metadata.checkov.skip of the resource."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct} has no CloudFormation resource to annotate")
    existing = resource.get_metadata("checkov") or {"skip": []}
    existing["skip"] += [{"id": check, "comment": why} for check, why in reasons.items()]
    resource.add_metadata("checkov", existing)
