"""What a rule is: a check over one resource (or every resource of a stack), its settings
(a pydantic model: its pack config), the level it is enforced at, and what it reports."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from policy.resources import Kind, Resource

Level = Literal["mandatory", "advisory"]
Repository = Annotated[str, Field(pattern=r"^[^/]+/[^/]+$")]  # owner/name


class Settings(BaseModel):
    """A rule's pack config (camelCase keys, as in `--policy-pack-config`). `policy.settings`
    builds it from the stack's settings file; nothing here names a product."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel)

    environment_kind: Kind | None = Field(
        None,
        description="the kind of the stack these settings are for (environment.kind): a "
        "CrossGuard resource policy sees no other resource; unset: judged as production",
    )


class NoSettings(Settings):
    pass


class BranchSettings(Settings):
    """The settings of every rule that knows the production branch."""

    production_branch: str = Field("main", min_length=1, description="the only branch to deploy")


Check = Callable[[Resource, Any], Iterable[str]]
StackCheck = Callable[[Sequence[Resource], Any], Iterable[tuple[Resource, str]]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    level: Level
    types: tuple[str, ...]
    check: Check
    settings: type[Settings] = NoSettings

    def applies_to(self, resource: Resource) -> bool:
        return resource.type in self.types


@dataclass(frozen=True)
class StackRule:
    name: str
    description: str
    level: Level
    check: StackCheck
    settings: type[Settings] = NoSettings


@dataclass(frozen=True)
class Violation:
    rule: str
    level: Level  # the level it was checked at (the pack config may lower a rule's)
    description: str
    resource: Resource
    message: str
