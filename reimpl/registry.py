"""A generic name -> object registry (the pattern of lm-eval's `Registry` and
torch-fidelity's `register_feature_extractor`): decorator registration, name checks,
duplicate rejection, did-you-mean lookups and a freeze after start-up."""

from __future__ import annotations

import difflib
import re
from typing import Callable, Generic, Iterator, TypeVar

from reimpl.errors import UnknownNameError

T = TypeVar("T")

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9.-]*$")


class Registry(Generic[T]):
    """Maps lowercase kebab-case names to registered objects of one kind."""

    def __init__(self, kind: str, base: type | None = None):
        self.kind = kind
        self.base = base
        self._entries: dict[str, T] = {}
        self._frozen = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: `@MODELS.register("toy-maskgit")` above a class or builder function."""

        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        if self._frozen:
            raise RuntimeError(f"{self.kind} registry is frozen; register {name!r} at import time")
        if not NAME_PATTERN.match(name):
            raise ValueError(f"{self.kind} name {name!r} must match {NAME_PATTERN.pattern}")
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if self.base is not None and isinstance(obj, type) and not issubclass(obj, self.base):
            raise TypeError(f"{self.kind} {name!r} must subclass {self.base.__name__}")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())}",
                hint=f"choose one of: {', '.join(self.names()) or '(none registered)'}",
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def items(self) -> Iterator[tuple[str, T]]:
        return iter(sorted(self._entries.items()))

    def freeze(self) -> None:
        self._frozen = True

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)


def did_you_mean(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
