"""``SearchConfig``: everything a search needs, typed, validated, in and out of YAML.

A config is a frozen pydantic v2 model with ``extra="forbid"`` and two nested groups:

* the search itself (problem, algorithm, population, steps, adapter, optimizer, ...),
* ``ray`` (:class:`RayConfig`): cluster address, per-worker resources, fault tolerance,
* ``scheduler`` (:class:`SchedulerConfig`): when an idle shard is re-aimed or stopped.

Every wrong field raises :class:`~paretoray.errors.ConfigError`, one line per error,
starting with the field's path (``population``, ``ray.resources.gpu``), then the value
found and what is allowed, with a close match for a misspelt name. Registry names
(``problem``, ``algorithm``, ``adapter``, ``optimizer``) are checked against the
registries when the config is validated, so a newly registered algorithm needs no edit
here; constructor options are checked against the constructor's signature and their
values by building the object once.

The flat names of earlier versions (``address``, ``resources``, ``max_failures``,
``stop_after_idle_rounds``) are still accepted by every constructor and by
:meth:`SearchConfig.replace`, and mapped into their group, so ``paretoray.search(...,
address=...)``, old YAML files and old ``run.json`` files keep working.

``to_dict()`` is JSON-safe (``model_dump(mode="json")``), which is what ``run.json``
stores; ``from_dict(to_dict())`` gives back an equal config.

Example:
    >>> cfg = SearchConfig.from_yaml('''
    ... problem: zdt1
    ... algorithm: epo
    ... population: 32
    ... ray: {resources: {gpu: 0.25}}
    ... ''')  # doctest: +SKIP
    >>> cfg.replace(steps=1000).rounds  # doctest: +SKIP
    10
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import TypedDict

from paretoray._validation import ExactInt, Number, did_you_mean, fail, to_config_error
from paretoray.errors import ConfigError

__all__ = ["CUSTOM_PREFIX", "RayConfig", "SchedulerConfig", "SearchConfig"]

#: Prefix of the name recorded for a problem or algorithm passed as an object to
#: ``paretoray.search``; such a run is resumed by passing the object again.
CUSTOM_PREFIX = "custom:"
#: Keys of ``RayConfig.resources`` and their defaults (per worker).
RESOURCE_DEFAULTS: dict[str, float] = {"cpu": 1, "gpu": 0}
#: Flat field names of earlier versions -> the group that holds them now.
FLAT_NAMES: dict[str, str] = {
    "address": "ray",
    "resources": "ray",
    "max_failures": "ray",
    "stop_after_idle_rounds": "scheduler",
}


# ---------------------------------------------------------------- field types
def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _workers(value: Any) -> int | str:
    """``"auto"`` or an integer >= 0 (``64.0`` from YAML counts as 64)."""
    if isinstance(value, str) and value.lower() == "auto":
        return "auto"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise fail("is not allowed; allowed values: integers >= 0, or 'auto'.")
    return value


def _path_to_str(value: Any) -> Any:
    return os.fspath(value) if isinstance(value, os.PathLike) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise fail("is not allowed; it must be a non-empty string.")
    return value


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    """Options must survive run.json: returned as a plain JSON round trip."""
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as e:
        raise fail(
            f"cannot be saved to run.json ({e}); allowed values: strings, numbers (finite), "
            "booleans, null, lists and mappings of them."
        ) from None


def _whole_above_one(amount: float) -> float:
    # Ray: a fractional request above one is not allowed ("1.5 GPUs").
    if amount > 1 and not float(amount).is_integer():
        raise fail("is not allowed; allowed values: a fraction in [0, 1] or a whole number "
                   "(Ray rejects fractional amounts above one).")
    return int(amount) if float(amount).is_integer() else amount


def _with_default_resources(value: dict[str, Any]) -> dict[str, Any]:
    return {**RESOURCE_DEFAULTS, **value}


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


Text = Annotated[str, Strict(), AfterValidator(_not_blank), BeforeValidator(_path_to_str)]
Name = Annotated[str, Strict()]
Options = Annotated[dict[str, Any], AfterValidator(_json_safe), BeforeValidator(_none_is_empty)]
Direction = Annotated[Literal["minimize", "maximize"], BeforeValidator(_lower)]
# whole amounts stay ints in YAML and run.json ("cpu: 1", not "cpu: 1.0")
Amount = Annotated[Number, Field(ge=0), AfterValidator(_whole_above_one),
                   PlainSerializer(lambda v: v, return_type=int | float)]


class Resources(TypedDict, total=False):
    """Per-worker Ray resources; a missing key takes its default (cpu 1, gpu 0)."""

    __pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[misc]

    cpu: Amount
    gpu: Amount


class _Frozen(BaseModel):
    """Frozen, closed (``extra="forbid"``) and raising ConfigError when built directly."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise _config_error(e, type(self), f"{type(self).__name__}()") from None

    # pydantic calls a custom __init__ for nested groups and model_validate(); this marks
    # it as the base one, so only a direct call converts errors (once, with full paths).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    def __setattr__(self, name: str, value: Any) -> None:
        raise ConfigError(
            f"{type(self).__name__} is frozen: {name} cannot be set; derive a changed copy "
            f"with cfg.replace({name}=...)."
        )


# ---------------------------------------------------------------- groups
class RayConfig(_Frozen):
    """Where the workers run and how faults are survived.

    Attributes:
        address: Ray cluster address; None starts Ray embedded on this machine.
        resources: Per-worker Ray resources ``{"cpu": 1, "gpu": 0}``; an amount may be a
            fraction of one (``gpu: 0.25``: four workers share a GPU) or a whole number.
        max_failures: Restarts of a failed worker before the search fails, >= 0.
        coordinator_restarts: Restarts of the coordinator actor (it reloads its state
            from the run directory), >= 0.
        allow_unauthenticated: Allow joining a cluster without token authentication.
    """

    address: Text | None = None
    resources: Annotated[Resources, AfterValidator(_with_default_resources)] = Field(
        default_factory=lambda: dict(RESOURCE_DEFAULTS))
    max_failures: Annotated[ExactInt, Field(ge=0)] = 2
    coordinator_restarts: Annotated[ExactInt, Field(ge=0)] = 3
    allow_unauthenticated: Annotated[bool, Strict()] = False


class SchedulerConfig(_Frozen):
    """When the scheduler acts on a shard that adds nothing to the archive.

    Attributes:
        reaim_after: Rounds in a row with no accepted point before the shard is re-aimed
            at the front's largest gaps (>= 1); None never re-aims.
        stop_after_idle_rounds: Rounds in a row with no accepted point before the shard
            is stopped (>= 1); None never stops.
        max_seconds: Stop the whole search after this many seconds of a session (> 0);
            None: no time budget.
        max_evaluations: Stop after this many member-steps in a session (>= 1); None: none.
        hv_stall_rounds: Stop when the front's hypervolume rose by at most
            ``hv_stall_tol`` (relative) over this many rounds (>= 1; needs a reference
            point); None: never.
        hv_stall_tol: The relative rise that still counts as a stall (>= 0).
    """

    reaim_after: Annotated[ExactInt, Field(ge=1)] | None = 2
    stop_after_idle_rounds: Annotated[ExactInt, Field(ge=1)] | None = None
    max_seconds: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    max_evaluations: Annotated[ExactInt, Field(ge=1)] | None = None
    hv_stall_rounds: Annotated[ExactInt, Field(ge=1)] | None = None
    hv_stall_tol: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 1e-6

    def termination(self) -> Any:
        """The stopping rules these fields ask for (a :class:`~paretoray.termination.AnyOf`),
        or None."""
        from paretoray import termination as t

        rules: list[t.Termination] = []
        if self.max_seconds is not None:
            rules.append(t.MaxTime(float(self.max_seconds)))
        if self.max_evaluations is not None:
            rules.append(t.MaxEvaluations(int(self.max_evaluations)))
        if self.hv_stall_rounds is not None:
            rules.append(t.HypervolumeStall(int(self.hv_stall_rounds), float(self.hv_stall_tol)))
        return t.AnyOf(*rules) if rules else None


# ---------------------------------------------------------------- registries (lazy)
def _registry(kind: str) -> Any:
    if kind == "problem":
        from paretoray import problems as module
    elif kind == "algorithm":
        from paretoray import algorithms as module
    else:
        from paretoray.preferences import adapters as module
    return module.REGISTRY


def _registered(kind: str) -> list[str]:
    if kind == "optimizer":
        from paretoray.engine import OPTIMIZERS

        return sorted(OPTIMIZERS)
    return _registry(kind).names()


def _check_option_names(field: str, options: dict[str, Any], kind: str, name: str) -> None:
    """Unknown constructor keywords fail here, not later inside a Ray worker."""
    try:
        _registry(kind).check_options(name, options)
    except ConfigError as e:
        raise fail(f"{field}: {e}") from None


def _check_option_values(field: str, options: dict[str, Any], kind: str, name: str) -> None:
    """Build the object once so that a wrong option value fails now, naming the option."""
    factory = _registry(kind).factory(name)
    try:
        factory(**options)
        return
    except (TypeError, ValueError) as e:  # ConfigError is a ValueError
        error = e
    culprit = None
    for key, value in options.items():  # the one option that fails on its own, if any
        try:
            factory(**{key: value})
        except (TypeError, ValueError) as e:
            culprit, error = key, e
            break
    shown = f"{field}={options!r}" if culprit is None else f"{field}.{culprit}={options[culprit]!r}"
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    raise fail(f"{shown} is not allowed for {kind} {name!r}: {reason}")


# ---------------------------------------------------------------- the config
class SearchConfig(_Frozen):
    """What to optimize, how, with what budget, where (``ray``) and when to give up on a
    shard (``scheduler``).

    Frozen: derive a changed copy with :meth:`replace`. Registry names are stored lowercase.

    Attributes:
        problem: Registered problem name (``paretoray.problems.names()``).
        algorithm: Registered weighting name (``paretoray.algorithms.names()``).
        problem_options: Keyword arguments of the problem's constructor.
        algorithm_options: Keyword arguments of the weighting's constructor.
        population: Number of members ``p`` (one preference vector each), >= 1.
        steps: Engine steps per member in total, >= 1.
        steps_per_round: Engine steps ``K`` between two coordinator rounds, >= 1;
            the run has ``rounds = ceil(steps / steps_per_round)`` rounds.
        workers: Ray Tune trials, each owning a shard of the population; ``0`` runs
            the population in-process without Ray. At most ``population``. ``"auto"``
            (the default) picks the fastest correct choice: in-process on one machine for
            populations up to 4096 (a batched step of that size takes milliseconds, and
            starting Ray takes seconds), else one worker per CPU (per GPU for networks
            where several GPUs exist); on a cluster (``address``), one worker per CPU of
            the cluster, at most ``population``.
        adapter: How preference vectors move between rounds
            (``paretoray.preferences.adapters.names()``).
        adapter_options: Keyword arguments of the adapter's constructor.
        lr: Learning rate of the optimizer, > 0.
        optimizer: A key of ``paretoray.engine.OPTIMIZERS`` (adam, adamw, sgd, ...).
        optimizer_options: Other keyword arguments of the optimizer.
        seed: Seed of every random draw (initial points, adapters), >= 0.
        run_dir: Run directory (a path or pyarrow filesystem URI); None picks one.
        ref_point: Hypervolume reference point (one number per objective, in the
            objectives' ``directions``: below every point that counts for an objective to
            maximize), or None to use the problem's. Its length is checked against the
            problem later.
        checkpoint_every: Tune checkpoint period, in rounds, >= 1. A worker that Ray
            restarts replays at most this many rounds of its shard (the manifest answers the
            replayed offers without writing them again); each checkpoint costs the Tune
            driver a result and a copy of the shard's engine state.
        device: ``"auto"`` (CUDA when the worker sees one), ``"cpu"`` or ``"cuda"``.
        progress: Print the progress table.
        objective_names: A name per objective for tables, plots, ``to_pandas()`` columns
            and the archive's metadata; None takes the problem's (or ``f1..fm``). Its
            length is checked against the problem later.
        directions: ``"minimize"``/``"maximize"`` per objective (Optuna's words), or
            None for all minimized; its length is checked against the problem later. The
            engine minimizes the negated objectives to maximize; the archive, tables and
            plots show the values as the problem computes them.
        ray: Cluster address, per-worker resources and fault tolerance (:class:`RayConfig`).
        scheduler: Re-aim and stop rules for idle shards (:class:`SchedulerConfig`).
    """

    problem: Name
    algorithm: Name
    problem_options: Options = Field(default_factory=dict)
    algorithm_options: Options = Field(default_factory=dict)
    population: Annotated[ExactInt, Field(ge=1)] = 64
    steps: Annotated[ExactInt, Field(ge=1)] = 500
    steps_per_round: Annotated[ExactInt, Field(ge=1)] = 50
    workers: Annotated[Any, BeforeValidator(_workers)] = "auto"
    adapter: Name = "adaptive"
    adapter_options: Options = Field(default_factory=dict)
    lr: Annotated[Number, Field(gt=0)] = 1e-2
    optimizer: Name = "adam"
    optimizer_options: Options = Field(default_factory=dict)
    seed: Annotated[ExactInt, Field(ge=0)] = 0
    run_dir: Text | None = None
    ref_point: Annotated[list[Number], Field(min_length=1)] | None = None
    checkpoint_every: Annotated[ExactInt, Field(ge=1)] = 8
    device: Annotated[Literal["auto", "cpu", "cuda"], BeforeValidator(_lower)] = "auto"
    progress: Annotated[bool, Strict()] = True
    directions: Annotated[list[Direction], Field(min_length=1)] | None = None
    objective_names: Annotated[list[Annotated[str, Field(min_length=1)]],
                               Field(min_length=1)] | None = None
    ray: RayConfig = Field(default_factory=RayConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)

    #: Fields without a default.
    REQUIRED: ClassVar[tuple[str, ...]] = ("problem", "algorithm")

    # ------------------------------------------------------------ validators
    @model_validator(mode="before")
    @classmethod
    def _flat_names(cls, data: Any) -> Any:
        """Move the flat names of earlier versions into their group."""
        if not isinstance(data, Mapping) or not any(k in data for k in FLAT_NAMES):
            return data
        data = dict(data)
        for key, group in FLAT_NAMES.items():
            if key in data:
                given = data.get(group)
                base = (given.model_dump() if isinstance(given, BaseModel)
                        else dict(given) if isinstance(given, Mapping) else {})
                data[group] = {**base, key: data.pop(key)}
        return data

    @field_validator("problem", "algorithm", "adapter", "optimizer")
    @classmethod
    def _registered_name(cls, value: str, info: Any) -> str:
        kind = info.field_name
        if kind in ("problem", "algorithm") and value.startswith(CUSTOM_PREFIX):
            return value
        if kind in ("problem", "algorithm") and ":" in value:  # "package.module:factory"
            try:
                _registry(kind).factory(value)
            except ConfigError as exc:
                raise fail(f"is not allowed: {exc}") from None
            return value
        allowed = _registered(kind)
        key = value.lower()
        if key not in allowed:
            raise fail(f"is not allowed; allowed values: {', '.join(allowed) or '(none)'}."
                       + did_you_mean(key, allowed))
        return key

    @field_validator("ref_point", "directions", mode="before")
    @classmethod
    def _sequence_not_text(cls, value: Any) -> Any:
        return list(value) if hasattr(value, "__iter__") and not isinstance(
            value, str | bytes | Mapping) else value

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        if self.workers != "auto" and self.workers > self.population:
            raise fail(
                f"workers={self.workers} is not allowed with population={self.population}; "
                f"allowed values: 0 .. {self.population} (each worker owns a shard of at "
                "least one member). Lower `workers` or raise `population`."
            )
        if (self.directions is not None and self.ref_point is not None
                and len(self.directions) != len(self.ref_point)):
            raise fail(
                f"directions has {len(self.directions)} entries but ref_point has "
                f"{len(self.ref_point)}; both give one value per objective."
            )
        for kind in ("problem", "algorithm", "adapter"):
            name, options = getattr(self, kind), getattr(self, f"{kind}_options")
            if options and not name.startswith(CUSTOM_PREFIX):
                _check_option_names(f"{kind}_options", options, kind, name)
                _check_option_values(f"{kind}_options", options, kind, name)
        return self

    # ------------------------------------------------------------ derived values
    @property
    def rounds(self) -> int:
        """Number of coordinator rounds, ``ceil(steps / steps_per_round)``."""
        return -(-self.steps // self.steps_per_round)

    @property
    def address(self) -> str | None:
        """``ray.address`` (the flat name of earlier versions)."""
        return self.ray.address

    @property
    def resources(self) -> dict[str, float]:
        """``ray.resources`` (the flat name of earlier versions)."""
        return self.ray.resources

    @property
    def max_failures(self) -> int:
        """``ray.max_failures`` (the flat name of earlier versions)."""
        return self.ray.max_failures

    @property
    def stop_after_idle_rounds(self) -> int | None:
        """``scheduler.stop_after_idle_rounds`` (the flat name of earlier versions)."""
        return self.scheduler.stop_after_idle_rounds

    @classmethod
    def field_names(cls) -> list[str]:
        """Every top-level field name, in declaration order (groups last)."""
        return list(cls.model_fields)

    # ------------------------------------------------------------ dict / kwargs
    @classmethod
    def _build(cls, data: Mapping[str, Any], where: str, hint: str = "") -> SearchConfig:
        try:
            return cls.model_validate(dict(data))
        except ValidationError as e:
            raise _config_error(e, cls, where, hint) from None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchConfig:
        """Build and validate a config from a mapping of field names to values.

        Groups are nested mappings (``{"ray": {"address": ...}}``); the flat names of
        earlier versions (``address``, ``resources``, ...) are accepted too, so old
        ``run.json`` files load.

        Raises:
            ConfigError: An unknown or missing field, or an invalid value.
        """
        if not isinstance(d, Mapping):
            raise ConfigError(
                f"A config must be a mapping of field names to values; got "
                f"{type(d).__name__} {d!r:.80}."
            )
        return cls._build(d, "The config")

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> SearchConfig:
        """Build a config from ``paretoray.search()``'s keyword arguments.

        Every keyword must be a field (or a flat name such as ``address``): an unknown
        keyword (a typo, or an option meant for the algorithm) raises instead of being
        silently dropped; pass constructor options as ``algorithm_options={...}``.
        """
        return cls._build(kwargs, "search()", hint=(
            " Constructor options go in problem_options={...}, algorithm_options={...} "
            "or adapter_options={...}."))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of every field, groups nested (a deep copy)."""
        return self.model_dump(mode="json")

    def replace(self, **changes: Any) -> SearchConfig:
        """A validated copy with ``changes`` applied.

        A group given as a mapping is merged into the current group
        (``replace(ray={"address": a})`` keeps the resources); flat names of earlier
        versions go to their group. Unknown names raise :class:`ConfigError`.
        """
        data = self.model_dump()
        for key, value in changes.items():
            if key in ("ray", "scheduler") and isinstance(value, Mapping):
                value = {**data[key], **value}
            data[key] = value
        return self._build(data, "replace()")

    # ------------------------------------------------------------ YAML
    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> SearchConfig:
        """Load a config from a YAML file or YAML text.

        Args:
            source: A path (a ``Path``, or a one-line string naming an existing file or
                ending in ``.yaml``/``.yml``), or the YAML text itself.

        Raises:
            ConfigError: The file is missing or not YAML, or a field is wrong.
        """
        text, where = _read_yaml_source(source)
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError(f"{where} is not valid YAML: {e}") from None
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"{where} must hold a mapping of field names to values (problem: ..., "
                f"algorithm: ...); it holds a {type(data).__name__}."
            )
        try:
            return cls.from_dict(data)
        except ConfigError as e:
            if where == "The YAML text":
                raise
            raise ConfigError(f"{where}: {e}") from None

    def to_yaml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The config as YAML text; also written to ``path`` (atomically) when given."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None)
        if path is not None:
            target = Path(path)
            tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        return text


# ---------------------------------------------------------------- boundary
#: What a value of the right type looks like, where the type alone says too little.
_EXPECTED = {
    "ref_point": "a list of numbers (one number per objective)",
    "directions": "a list of 'minimize' / 'maximize' (one per objective)",
    "ray.resources": "a mapping like {'cpu': 1, 'gpu': 0}",
    "problem_options": "a mapping of option names to values",
    "algorithm_options": "a mapping of option names to values",
    "adapter_options": "a mapping of option names to values",
    "optimizer_options": "a mapping of option names to values",
    "problem": "a string (a registered name)",
    "algorithm": "a string (a registered name)",
    "adapter": "a string (a registered name)",
    "optimizer": "a string (a registered name)",
}


def _required(name: str) -> str:
    if name in ("problem", "algorithm"):
        return f"{name!r} (registered: {', '.join(_registered(name)) or 'none'})"
    return repr(name)


def _config_error(exc: ValidationError, root: type[BaseModel], where: str,
                  hint: str = "") -> ConfigError:
    aliases = list(FLAT_NAMES) if root is SearchConfig else []
    return to_config_error(exc, where=where, root=root, expected=_EXPECTED, aliases=aliases,
                           hint=hint, required=_required)


def _read_yaml_source(source: str | os.PathLike[str]) -> tuple[str, str]:
    """(text, description) of a YAML path or YAML text."""
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif isinstance(source, str):
        one_line = "\n" not in source.strip()
        looks_like_file = source.strip().lower().endswith((".yaml", ".yml"))
        if one_line and (looks_like_file or os.path.isfile(source)):
            path = Path(source.strip())
        else:
            return source, "The YAML text"
    else:
        raise ConfigError(
            f"SearchConfig.from_yaml expects a path or YAML text; got {type(source).__name__}."
        )
    try:
        return path.read_text(encoding="utf-8"), f"Config file {str(path)!r}"
    except OSError as e:
        raise ConfigError(f"Cannot read the config file {str(path)!r}: {e.strerror}.") from None

