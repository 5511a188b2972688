"""The CrossGuard pack: `pulumi preview --policy-pack policy`. Rules: policy/rules.py."""

import sys
from pathlib import Path

# Pulumi runs this file from inside policy/; the rules import as the package `policy`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from policy.crossguard import PACK_NAME, policies

POLICIES = policies()

if __name__ == "__main__":
    PolicyPack(name=PACK_NAME, policies=POLICIES)
