"""The 1.x program named its component types after its product (`<product>:github:Environment`).
A stack it deployed says so (`deployedWith1x`): each component then keeps its 1.x type as an
alias, so that the upgrade replaces nothing (docs/migration-2.0.md; tests/plandiff/test_upgrade.py).
A stack that never ran 1.x has no alias."""

import pulumi

from components.config import StackConfig

# Each component's type -> its 1.x type without the namespace.
KINDS_1X = {
    "pipeline:index:Pipeline": "index:Pipeline",
    "pipeline:github:Environment": "github:Environment",
    "pipeline:vercel:Service": "vercel:Frontend",
    "pipeline:railway:Service": "railway:Service",
    "pipeline:monitoring:Files": "monitoring:Files",
}


def aliases(type_: str, config: StackConfig) -> pulumi.ResourceOptions:
    """The 1.x type of the component of type `type_` as its alias, where the stack ran 1.x."""
    if not config.deployed_with_1x:
        return pulumi.ResourceOptions()
    old = f"{config.product.name}:{KINDS_1X[type_]}"
    return pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=old)])
