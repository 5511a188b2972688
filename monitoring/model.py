"""The building blocks every config model of the project shares: the base model, and a number
that may be written as text. A leaf module (it imports nothing of ours), so that models outside
`monitoring.config` (`monitoring.slo_config`) can build on them without an import cycle."""

import math
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel


def _decimal_text(value: object) -> object:
    """`pulumi config set --path` stores a decimal as text ("0.02"): read it as its number."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        return number if math.isfinite(number) else value
    return value


# A number, also when written as text; never a boolean (the stack config is validated strictly).
Decimal = Annotated[float, BeforeValidator(_decimal_text)]


class ConfigModel(BaseModel):
    """Base of every config model of the project: immutable, strict keys, camelCase in YAML."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )
