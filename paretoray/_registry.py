"""One name -> factory registry, used the same way by problems, algorithms and adapters.

Each package makes one :class:`Registry` next to its base class and exposes its methods::

    REGISTRY: Registry[Problem] = Registry("problem", Problem)
    register, get, names = REGISTRY.register, REGISTRY.get, REGISTRY.names

so ``@register("zdt1")`` names and registers a class, ``get("zdt1", n_var=5)`` builds one
(an instance of the base class passes through), and ``names()`` lists what is known.
Only the standard library is imported here: ``import paretoray.problems`` stays light.
"""

from __future__ import annotations

import contextlib
import difflib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from paretoray.errors import ConfigError, UnknownNameError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

__all__ = ["Registry", "did_you_mean", "registry_spec"]


def registry_spec(obj: Any) -> tuple[str, dict[str, Any]] | None:
    """``(name, options)`` of an object a registry built, when the options are plain data
    (JSON-safe: they can be recorded in ``run.json``); None for anything else."""
    import json

    spec = getattr(obj, "_registry_spec", None)
    if spec is None:
        return None
    try:
        json.dumps(spec[1], allow_nan=False)
    except (TypeError, ValueError):
        return None
    return spec[0], dict(spec[1])


def did_you_mean(value: Any, allowed: list[str] | tuple[str, ...]) -> str:
    """`` Did you mean 'x'?`` for the closest of ``allowed`` (difflib), or ``""``."""
    close = difflib.get_close_matches(str(value), list(allowed), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def import_path(path: str, *, what: str = "factory") -> Callable[..., Any]:
    """The callable named by ``"package.module:attr"`` (``attr`` may be dotted).

    Raises:
        ConfigError: The path is malformed, its module fails to import, or the attribute
            is missing or not callable; the message names the path and the cause.
    """
    import importlib

    if path.count(":") != 1 or not all(path.split(":")):
        raise ConfigError(f"A {what} import path must look like 'package.module:factory'; "
                          f"got {path!r}.")
    module_name, attr = path.split(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:
        raise ConfigError(f"{what} {path!r}: importing module {module_name!r} failed "
                          f"({type(exc).__name__}: {exc}). Check that it is installed or on "
                          "PYTHONPATH.") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"{what} {path!r}: {module_name!r} has no attribute {attr!r}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ConfigError(f"{what} {path!r} names a {type(obj).__name__}, not a callable.")
    return obj


class Registry(Generic[T]):
    """Map lowercase names to factories (usually classes).

    Args:
        kind: What the registry holds, used in error messages ("problem", "algorithm").
        passthrough: What :meth:`get` returns unchanged instead of building: the base
            class of what the registry holds (its instances pass), or a predicate.
    """

    def __init__(self, kind: str, passthrough: type | Callable[[Any], bool] | None = None
                 ) -> None:
        self.kind = kind
        self.passthrough = passthrough
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: register ``factory`` under ``name`` (lowercase).

        A class also gets ``name`` as its ``name`` attribute.

        Raises:
            ValueError: Another factory is registered under ``name`` already.
        """
        key = name.lower()

        def deco(factory: F) -> F:
            if key in self._factories and self._factories[key] is not factory:
                raise ValueError(f"{self.kind} {key!r} is registered twice.")
            if isinstance(factory, type):
                factory.name = name  # type: ignore[attr-defined]
            self._factories[key] = factory
            return factory

        return deco

    def get(self, name: str | T, **options: Any) -> T:
        """Build the object registered as ``name`` with ``options``.

        An instance of the registry's base class (or an object its ``passthrough``
        predicate accepts) is returned unchanged.

        Raises:
            UnknownNameError: ``name`` is not registered; the message lists the names.
            ConfigError: An option is not a parameter of the constructor.
        """
        if self._passes(name):
            return name  # type: ignore[return-value]
        factory = self.factory(name)  # type: ignore[arg-type]
        self.check_options(name, options)  # type: ignore[arg-type]
        obj = factory(**options)
        # what built it, so a run can record the name and options instead of the object
        # (and a resume rebuild it): see :func:`registry_spec`
        with contextlib.suppress(AttributeError, TypeError):
            obj._registry_spec = (str(name).lower(), dict(options))  # type: ignore[attr-defined]
        return obj

    def _passes(self, obj: Any) -> bool:
        if self.passthrough is None or isinstance(obj, str):
            return False
        if isinstance(self.passthrough, type):
            return isinstance(obj, self.passthrough)
        return bool(self.passthrough(obj))

    def factory(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name`` (raises :class:`UnknownNameError`).

        A name of the form ``"package.module:factory"`` is an import path instead: the
        callable it names is the factory (a user's own problem or weighting, named in
        YAML).
        """
        if ":" in str(name):
            return import_path(str(name), what=self.kind)
        key = str(name).lower()
        if key not in self._factories:
            raise UnknownNameError(
                f"Unknown {self.kind} {name!r}; allowed values: {', '.join(self.names())}."
                + did_you_mean(key, self.names())
                + " See `paretoray list` for what each one is."
            )
        return self._factories[key]

    def options(self, name: str) -> list[str] | None:
        """The keyword options of ``name``'s constructor; None when it takes any keyword."""
        try:
            params = inspect.signature(self.factory(name)).parameters.values()
        except (TypeError, ValueError):  # no signature: nothing to check against
            return None
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return [p.name for p in params
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"]

    def check_options(self, name: str, options: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` for an option that ``name``'s constructor lacks."""
        allowed = self.options(name)
        if allowed is None:
            return
        for key in options:
            if key not in allowed:
                raise ConfigError(
                    f"{self.kind} {str(name).lower()!r} has no option {key!r}."
                    + did_you_mean(key, allowed)
                    + f" Allowed options: {', '.join(allowed) or '(none)'}."
                )

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._factories)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._factories

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
