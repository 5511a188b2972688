"""Files rendered once per distinct input in a process.

The program renders the monitoring files and the app's workflows from its config; the plan
diff's tests and every test that edits a stack run the program again and again with the same
settings. A renderer wrapped here is keyed by its models' whole JSON: the models it takes hold
no secret and leave no field out of their JSON, so two inputs with one key render alike.
"""

import functools
from collections.abc import Callable
from typing import ParamSpec, cast

from pydantic import BaseModel

P = ParamSpec("P")
Files = dict[str, str]


class _Input:
    """Positional models, equal to another input where their classes and JSON are."""

    def __init__(self, models: tuple[BaseModel, ...]) -> None:
        self.models = models
        self.key = tuple((type(m), m.model_dump_json()) for m in models)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Input) and self.key == other.key


def by_json(render: Callable[P, Files]) -> Callable[P, Files]:
    """`render` of pydantic models, passed positionally; each call gets its own dict."""
    of_models = cast(Callable[..., Files], render)

    @functools.lru_cache(maxsize=16)
    def rendered(given: _Input) -> Files:
        return of_models(*given.models)

    @functools.wraps(render)
    def cached(*args: P.args, **kwargs: P.kwargs) -> Files:
        if kwargs:
            raise TypeError(f"{render.__name__}: pass the models positionally")
        return dict(rendered(_Input(cast(tuple[BaseModel, ...], args))))

    return cached
