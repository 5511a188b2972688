"""The 1.x program's type names, whose namespace was the first product's: each component keeps
its old type as an alias, so that a stack deployed with 1.x upgrades in place, replacing
nothing (docs/migration-2.0.md; tests/plandiff/test_upgrade.py)."""

import pulumi

NAMESPACE_1X = "autonomica"


def aliases(kind: str) -> pulumi.ResourceOptions:
    """`kind` (e.g. `github:Environment`) under the 1.x namespace, as an alias."""
    return pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=f"{NAMESPACE_1X}:{kind}")])
