"""Encore's AWS production stack as code (AWS CDK v2): docs/deploy-aws.md."""
