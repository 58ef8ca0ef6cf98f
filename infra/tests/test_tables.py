"""The DynamoDB tables in the template are the ones the app creates: the CreateTable request of
app/storage/dynamo/tables.py (`_definition`) compared with each AWS::DynamoDB::Table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk.assertions import Template
from conftest import resources

from encore_infra import app_tables
from encore_infra.config import Config

PREFIX = Config().table_prefix


def _normalised(definition: dict[str, Any]) -> dict[str, Any]:
    """The parts of a table that must match, in a comparable order (CloudFormation keeps no
    order for attribute definitions and indexes)."""
    indexes = sorted(definition.get("GlobalSecondaryIndexes", []), key=lambda i: i["IndexName"])
    return {
        "KeySchema": definition["KeySchema"],
        "AttributeDefinitions": sorted(
            definition["AttributeDefinitions"], key=lambda a: a["AttributeName"]
        ),
        "GlobalSecondaryIndexes": [
            {
                "IndexName": i["IndexName"],
                "KeySchema": i["KeySchema"],
                "Projection": {
                    "ProjectionType": i["Projection"]["ProjectionType"],
                    **(
                        {"NonKeyAttributes": sorted(i["Projection"]["NonKeyAttributes"])}
                        if i["Projection"].get("NonKeyAttributes")
                        else {}
                    ),
                },
            }
            for i in indexes
        ],
        "BillingMode": definition["BillingMode"],
    }


def mismatches(template: Template, tables: app_tables.AppTables) -> list[str]:
    """Every difference between the app's tables and the template's, one line each."""
    in_template = {
        r["Properties"]["TableName"]: r["Properties"]
        for r in resources(template, "AWS::DynamoDB::Table").values()
    }
    problems = []
    expected_names = set()
    for spec in tables.specs:
        name = f"{PREFIX}{spec.name}"
        expected_names.add(name)
        if name not in in_template:
            problems.append(f"{name}: not in the template")
            continue
        want = _normalised(dict(tables.definition(spec, name)))
        got = _normalised(in_template[name])
        for key in want:
            if want[key] != got[key]:
                problems.append(f"{name}.{key}: app {want[key]!r} != template {got[key]!r}")
    for extra in sorted(set(in_template) - expected_names):
        problems.append(f"{extra}: in the template, not in the app")
    return problems


def test_every_table_matches_what_the_app_creates(template: Template) -> None:
    tables = app_tables.load()
    assert len(tables.specs) == 8  # users ... lottery_registrations: a table added shows here
    assert mismatches(template, tables) == []


def test_the_comparison_sees_a_changed_index(template: Template, tmp_path: Path) -> None:
    """An app whose tables differ (an index renamed, a key changed) is reported."""
    source = app_tables.TABLES_PY.read_text()
    changed = source.replace('Index("by_due", "due_pk", "due_key")', 'Index("by_due2", "due_pk")')
    changed = changed.replace('hash_key="order_id",', 'hash_key="order",')
    assert changed.count("by_due2") == 1
    assert 'hash_key="order",' in changed
    copy = tmp_path / "tables.py"
    copy.write_text(changed)
    problems = mismatches(template, app_tables.load(copy))
    assert any("encore-orders.GlobalSecondaryIndexes" in p for p in problems), problems
    assert any("encore-tickets.KeySchema" in p for p in problems), problems


def test_tables_are_on_demand_recoverable_protected_and_encrypted(template: Template) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    assert len(tables) == 8
    for resource in tables.values():
        props = resource["Properties"]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
        assert props["DeletionProtectionEnabled"] is True
        assert props["SSESpecification"]["SSEEnabled"] is True
        assert props["SSESpecification"]["SSEType"] == "KMS"
        assert resource["DeletionPolicy"] == "Retain"


def test_ttl_as_the_app_enables_it(template: Template) -> None:
    ttl = {spec.name: spec.ttl_attribute for spec in app_tables.load().specs}
    for resource in resources(template, "AWS::DynamoDB::Table").values():
        props = resource["Properties"]
        name = props["TableName"].removeprefix(PREFIX)
        if ttl[name]:
            assert props["TimeToLiveSpecification"] == {
                "AttributeName": ttl[name],
                "Enabled": True,
            }
        else:
            assert "TimeToLiveSpecification" not in props
