"""Tests of paretoray/config.py: SearchConfig validation, YAML/dict round trips, kwargs."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from paretoray import algorithms, problems
from paretoray.config import SearchConfig
from paretoray.errors import ConfigError


@pytest.fixture
def base() -> dict[str, str]:
    """Required fields naming whatever is registered (the first names, sorted)."""
    return {"problem": problems.names()[0], "algorithm": algorithms.names()[0]}


@pytest.fixture
def full(base, tmp_path) -> SearchConfig:
    return SearchConfig(
        **base,
        population=16,
        steps=120,
        steps_per_round=25,
        workers=3,
        adapter="fixed",
        adapter_options={},
        lr=0.05,
        optimizer="sgd",
        optimizer_options={"momentum": 0.9},
        seed=7,
        run_dir=str(tmp_path / "run"),
        address="ray://head:10001",
        ref_point=[1.1, 1.1],
        checkpoint_every=3,
        max_failures=0,
        stop_after_idle_rounds=4,
        resources={"cpu": 2, "gpu": 0.25},
        device="cpu",
        progress=False,
        directions=["minimize", "minimize"],
    )


# ---------------------------------------------------------------- defaults, derived
def test_defaults_and_rounds(base):
    cfg = SearchConfig(**base)
    assert (cfg.population, cfg.steps, cfg.steps_per_round, cfg.workers) == (64, 500, 50, "auto")
    assert (cfg.adapter, cfg.lr, cfg.optimizer, cfg.seed) == ("adaptive", 1e-2, "adam", 0)
    assert cfg.resources == {"cpu": 1, "gpu": 0}
    assert (cfg.device, cfg.progress, cfg.checkpoint_every, cfg.max_failures) == ("auto", True,
                                                                                 8, 2)
    assert cfg.run_dir is cfg.address is cfg.ref_point is cfg.directions is None
    assert cfg.rounds == 10
    assert cfg.replace(steps=101).rounds == 3  # ceil(101 / 50)
    assert cfg.replace(steps=10).rounds == 1


def test_frozen_and_replace_validates(full):
    with pytest.raises(ConfigError, match=r"frozen.*cfg\.replace\(population=\.\.\.\)"):
        full.population = 3  # type: ignore[misc]
    with pytest.raises(ConfigError, match="frozen"):
        full.ray.address = "elsewhere"  # type: ignore[misc]
    assert full.replace(population=32).population == 32
    assert full.population == 16  # the original is untouched
    with pytest.raises(ConfigError, match="population=0"):
        full.replace(population=0)
    with pytest.raises(ConfigError, match="Did you mean 'steps'"):
        full.replace(stepz=3)


def test_names_are_case_insensitive_and_stored_lowercase(base):
    cfg = SearchConfig(problem=base["problem"].upper(), algorithm=base["algorithm"].upper(),
                       adapter="Fixed", optimizer="AdamW", device="CPU",
                       directions=["Minimize"])
    assert (cfg.problem, cfg.algorithm) == (base["problem"], base["algorithm"])
    assert (cfg.adapter, cfg.optimizer, cfg.device) == ("fixed", "adamw", "cpu")
    assert cfg.directions == ["minimize"]


def test_numbers_are_coerced_where_exact(base):
    cfg = SearchConfig(**base, population=np.int64(8), steps=64.0, lr=1, workers=0,
                       ref_point=(1, np.float32(2.5)), run_dir=Path("runs/x"))
    assert cfg.population == 8 and type(cfg.population) is int
    assert cfg.steps == 64 and type(cfg.steps) is int
    assert cfg.lr == 1.0 and type(cfg.lr) is float
    assert cfg.ref_point == [1.0, 2.5]
    assert cfg.run_dir == "runs/x"


def test_resources_merge_defaults_and_allow_fractional_gpus(base):
    assert SearchConfig(**base, resources={"gpu": 0.5}).resources == {"cpu": 1, "gpu": 0.5}
    assert SearchConfig(**base, resources={"gpu": 2}).resources == {"cpu": 1, "gpu": 2}


# ---------------------------------------------------------------- round trips
def test_yaml_round_trip_text_and_file(full, tmp_path):
    text = full.to_yaml()
    assert SearchConfig.from_yaml(text) == full
    path = tmp_path / "search.yaml"
    assert full.to_yaml(path) == text
    assert SearchConfig.from_yaml(path) == full
    assert SearchConfig.from_yaml(str(path)) == full
    assert text.splitlines()[0].startswith("problem:")  # field order is kept


def test_to_dict_is_json_safe_and_round_trips(full):
    d = full.to_dict()
    again = json.loads(json.dumps(d, allow_nan=False))
    assert again == d
    assert SearchConfig.from_dict(again) == full
    d["ray"]["resources"]["cpu"] = 99  # a deep copy: the config does not change
    assert full.resources["cpu"] == 2


def test_minimal_yaml(base):
    cfg = SearchConfig.from_yaml(f"problem: {base['problem']}\nalgorithm: {base['algorithm']}\n"
                                 "population: 8\nworkers: 0\n")
    assert (cfg.population, cfg.workers) == (8, 0)


# ---------------------------------------------------------------- invalid fields
# (field, value, fragments the message must contain). Every message names the field and
# the value found, and says what is allowed.
INVALID = [
    ("population", 0, ["population=0", "integers >= 1"]),
    ("population", 1.5, ["population=1.5", "expected an integer"]),
    ("population", True, ["population=True", "expected an integer"]),
    ("population", "64", ["population='64'", "type str", "expected an integer"]),
    ("steps", 0, ["steps=0", "integers >= 1"]),
    ("steps_per_round", -5, ["steps_per_round=-5", "integers >= 1"]),
    ("workers", -1, ["workers=-1", "integers >= 0"]),
    ("workers", 100, ["workers=100", "population=64", "allowed values: 0 .. 64"]),
    ("adapter", "adaptiv", ["adapter='adaptiv'", "allowed values: adaptive, ehvi, fixed",
                            "Did you mean 'adaptive'"]),
    ("adapter", 3, ["adapter=3", "expected a string"]),
    ("adapter_options", {"stepp": 0.5}, ["adapter_options", "'stepp'", "Did you mean 'step'"]),
    ("adapter_options", {"step": 2.0}, ["adapter_options", "step=2.0", "(0, 1]"]),
    ("adapter_options", [1, 2], ["adapter_options=[1, 2]", "expected a mapping"]),
    ("lr", 0, ["lr=0 ", "finite numbers > 0"]),
    ("lr", math.inf, ["lr=inf", "finite numbers > 0"]),
    ("lr", "fast", ["lr='fast'", "expected a number"]),
    ("optimizer", "adm", ["optimizer='adm'", "allowed values: adagrad, adam, adamw, rmsprop, sgd",
                          "Did you mean 'adam'"]),
    ("optimizer_options", {1: 2}, ["optimizer_options", "key 1", "must be strings"]),
    ("seed", -1, ["seed=-1", "integers >= 0"]),
    ("run_dir", 3, ["run_dir=3", "expected a string or null"]),
    ("run_dir", "  ", ["run_dir='  '", "non-empty"]),
    ("address", ["head"], ["address=['head']", "expected a string or null"]),
    ("ref_point", [1.0, math.nan], ["ref_point[1]=nan", "finite numbers"]),
    ("ref_point", "1,2", ["ref_point='1,2'", "expected a list of numbers"]),
    ("ref_point", [], ["ref_point=[]", "one number per objective"]),
    ("checkpoint_every", 0, ["checkpoint_every=0", "integers >= 1"]),
    ("max_failures", -2, ["max_failures=-2", "integers >= 0"]),
    ("stop_after_idle_rounds", 0, ["stop_after_idle_rounds=0", "integers >= 1"]),
    ("resources", {"gpu": -1}, ["ray.resources.gpu=-1", "finite numbers >= 0"]),
    ("resources", {"gpu": 1.5}, ["ray.resources.gpu=1.5", "whole number"]),
    ("resources", {"gpus": 1}, ["unknown key 'gpus'", "allowed keys: cpu, gpu",
                                "Did you mean 'gpu'"]),
    ("resources", 4, ["ray.resources=4", "expected a mapping"]),
    ("device", "gpu", ["device='gpu'", "allowed values: auto, cpu, cuda"]),
    ("progress", "yes", ["progress='yes'", "expected a boolean"]),
    ("directions", ["min", "maximize"], ["directions[0]='min'",
                                         "allowed values: minimize, maximize"]),
    ("directions", "minimize", ["directions='minimize'", "expected a list"]),
    ("problem", "zdt99", ["problem='zdt99'", "allowed values:"]),
    ("problem", 3, ["problem=3", "expected a string"]),
    ("algorithm", "epoo", ["algorithm='epoo'", "allowed values:"]),
    ("problem_options", {"x": object()}, ["problem_options", "cannot be saved to run.json"]),
    ("problem_options", {"x": math.inf}, ["problem_options", "cannot be saved to run.json"]),
    ("problem_options", {"surely_not_an_option": 1}, ["problem_options",
                                                      "'surely_not_an_option'",
                                                      "Allowed options"]),
]


@pytest.mark.parametrize(("field", "value", "fragments"), INVALID,
                         ids=[f"{f}={v!r}" for f, v, _ in INVALID])
def test_invalid_field_names_field_value_and_allowed(base, field, value, fragments):
    kwargs = {**base, field: value}
    with pytest.raises(ConfigError) as err:
        SearchConfig(**kwargs)
    msg = str(err.value)
    for fragment in fragments:
        assert fragment in msg, msg
    # ... and the same error comes through from_dict (YAML-shaped input)
    with pytest.raises(ConfigError, match=re.escape(fragments[0])):
        SearchConfig.from_dict(kwargs)


def test_registry_names_are_read_lazily(base):
    """Registering a new algorithm makes it valid with no edit of config.py."""
    from paretoray.algorithms.base import REGISTRY

    with pytest.raises(ConfigError, match="not allowed"):
        SearchConfig(problem=base["problem"], algorithm="brand_new")
    factory = REGISTRY.factory(base["algorithm"])
    REGISTRY._factories["brand_new"] = factory
    try:
        assert SearchConfig(problem=base["problem"], algorithm="brand_new").algorithm == (
            "brand_new")
    finally:
        del REGISTRY._factories["brand_new"]


def test_directions_and_ref_point_lengths_agree(base):
    with pytest.raises(ConfigError, match="directions has 3 entries but ref_point has 2"):
        SearchConfig(**base, directions=["minimize"] * 3, ref_point=[1, 1])


# ---------------------------------------------------------------- unknown / missing keys
def test_unknown_key_did_you_mean(base):
    with pytest.raises(ConfigError) as err:
        SearchConfig.from_dict({**base, "popultion": 10})
    msg = str(err.value)
    assert "'popultion'" in msg and "Did you mean 'population'?" in msg
    assert "Allowed fields: problem, algorithm," in msg


def test_unknown_key_in_yaml_file_names_the_file(base, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(f"problem: {base['problem']}\nalgorithm: {base['algorithm']}\n"
                    "step_per_round: 10\n")
    with pytest.raises(ConfigError) as err:
        SearchConfig.from_yaml(path)
    msg = str(err.value)
    assert "bad.yaml" in msg and "Did you mean 'steps_per_round'?" in msg


def test_missing_required_field(base):
    with pytest.raises(ConfigError, match=r"lacks the required field 'algorithm' \(registered: "):
        SearchConfig.from_dict({"problem": base["problem"]})


@pytest.mark.parametrize(("source", "fragment"), [
    ("problem: [zdt1\n", "not valid YAML"),
    ("- a\n- b\n", "must hold a mapping"),
    ("missing.yaml", "Cannot read the config file 'missing.yaml'"),
])
def test_from_yaml_errors(source, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=fragment):
        SearchConfig.from_yaml(source)


def test_from_dict_rejects_non_mappings():
    with pytest.raises(ConfigError, match="must be a mapping"):
        SearchConfig.from_dict(["problem", "zdt1"])  # type: ignore[arg-type]


# ---------------------------------------------------------------- from_kwargs
def test_from_kwargs(base):
    cfg = SearchConfig.from_kwargs(**base, population=8, steps=40, workers=0, adapter="fixed",
                                   run_dir=None, seed=3, address=None, lr=0.1,
                                   algorithm_options={})
    assert (cfg.population, cfg.steps, cfg.workers, cfg.adapter, cfg.seed, cfg.lr) == (
        8, 40, 0, "fixed", 3, 0.1)


def test_from_kwargs_rejects_unknown_options(base):
    with pytest.raises(ConfigError) as err:
        SearchConfig.from_kwargs(**base, learning_rate=0.1)
    msg = str(err.value)
    assert msg.startswith("search() has the unknown field 'learning_rate'")
    assert "Allowed fields:" in msg and "lr" in msg
    with pytest.raises(ConfigError, match="Did you mean 'workers'"):
        SearchConfig.from_kwargs(**base, worker=2)


# ---------------------------------------------------------------- groups (ray, scheduler)
def test_groups_defaults_and_nested_dicts(base):
    cfg = SearchConfig(**base)
    assert cfg.ray.model_dump() == {"address": None, "resources": {"cpu": 1, "gpu": 0},
                                    "max_failures": 2, "coordinator_restarts": 3,
                                    "allow_unauthenticated": False}
    assert cfg.scheduler.model_dump() == {"reaim_after": 2, "stop_after_idle_rounds": None,
                                          "max_seconds": None, "max_evaluations": None,
                                          "hv_stall_rounds": None, "hv_stall_tol": 1e-6}
    assert type(cfg.to_dict()["ray"]["resources"]["cpu"]) is int  # "cpu: 1" in YAML, not 1.0
    nested = SearchConfig.from_dict({**base, "ray": {"address": "ray://h:1",
                                                     "resources": {"gpu": 0.25}},
                                     "scheduler": {"reaim_after": None,
                                                   "stop_after_idle_rounds": 5}})
    assert nested.ray.address == "ray://h:1"
    assert nested.ray.resources == {"cpu": 1, "gpu": 0.25}
    assert (nested.scheduler.reaim_after, nested.scheduler.stop_after_idle_rounds) == (None, 5)
    assert list(nested.to_dict())[-2:] == ["ray", "scheduler"]


def test_flat_names_of_earlier_versions_map_into_groups(base):
    flat = SearchConfig.from_kwargs(**base, address="ray://h:1", resources={"gpu": 0.5},
                                    max_failures=0, stop_after_idle_rounds=3)
    nested = SearchConfig.from_dict({**base, "ray": {"address": "ray://h:1",
                                                     "resources": {"gpu": 0.5},
                                                     "max_failures": 0},
                                     "scheduler": {"stop_after_idle_rounds": 3}})
    assert flat == nested
    # the flat names still read (api, runner), and replace() takes them too
    assert (flat.address, flat.resources, flat.max_failures, flat.stop_after_idle_rounds) == (
        "ray://h:1", {"cpu": 1, "gpu": 0.5}, 0, 3)
    moved = flat.replace(address="ray://other:2", stop_after_idle_rounds=None)
    assert moved.ray.address == "ray://other:2" and moved.ray.resources == flat.ray.resources
    assert moved.scheduler.stop_after_idle_rounds is None
    assert moved.scheduler.reaim_after == flat.scheduler.reaim_after
    # a flat name and its group together: the flat value lands inside the given group
    both = SearchConfig.from_dict({**base, "ray": {"max_failures": 5}, "address": "a:1"})
    assert (both.ray.max_failures, both.ray.address) == (5, "a:1")


def test_replace_merges_a_group_mapping(full):
    changed = full.replace(ray={"max_failures": 7})
    assert changed.ray.max_failures == 7
    assert changed.ray.address == full.ray.address == "ray://head:10001"
    assert changed.ray.resources == {"cpu": 2, "gpu": 0.25}
    with pytest.raises(ConfigError, match=r"^ray\.max_failures=1\.5 has type float"):
        full.replace(ray={"max_failures": 1.5})


def test_old_run_json_config_loads(tmp_path):
    """A run.json written before the groups existed (flat keys) still loads."""
    old = {  # SearchConfig.to_dict() of the previous release, as stored in run.json
        "problem": "zdt1", "algorithm": "epo", "problem_options": {},
        "algorithm_options": {"relax": True}, "population": 16, "steps": 100,
        "steps_per_round": 20, "workers": 2, "adapter": "adaptive", "adapter_options": {},
        "lr": 0.01, "optimizer": "adam", "optimizer_options": {}, "seed": 3,
        "run_dir": str(tmp_path / "r"), "address": None, "ref_point": [11.0, 11.0],
        "checkpoint_every": 2, "max_failures": 1, "stop_after_idle_rounds": None,
        "resources": {"cpu": 1, "gpu": 0}, "device": "cpu", "progress": False,
        "directions": None,
    }
    (tmp_path / "run.json").write_text(json.dumps({"config": old}))
    cfg = SearchConfig.from_dict(json.loads((tmp_path / "run.json").read_text())["config"])
    assert (cfg.ray.max_failures, cfg.ray.address, cfg.ray.resources) == (
        1, None, {"cpu": 1, "gpu": 0})
    assert cfg.scheduler.stop_after_idle_rounds is None
    assert cfg.algorithm_options == {"relax": True} and cfg.seed == 3
    # ... and is written back nested, which loads to the same config
    new = cfg.to_dict()
    assert "address" not in new and new["ray"]["max_failures"] == 1
    assert SearchConfig.from_dict(new) == cfg


@pytest.mark.parametrize(("group", "value", "fragments"), [
    ("ray", {"adress": "x"}, ["ray has the unknown field 'adress'",
                              "Did you mean 'address'?", "Allowed fields: address,"]),
    ("ray", {"coordinator_restarts": -1}, ["ray.coordinator_restarts=-1", "integers >= 0"]),
    ("ray", {"allow_unauthenticated": "yes"}, ["ray.allow_unauthenticated='yes'",
                                               "expected a boolean"]),
    ("ray", {"address": ""}, ["ray.address=''", "non-empty"]),
    ("ray", 3, ["ray=3", "expected a mapping"]),
    ("scheduler", {"reaim_after": 0}, ["scheduler.reaim_after=0", "integers >= 1"]),
    ("scheduler", {"stop_after_idle_rounds": 2.5}, ["scheduler.stop_after_idle_rounds=2.5",
                                                    "expected an integer or null"]),
])
def test_group_errors_name_the_dotted_field(base, group, value, fragments):
    with pytest.raises(ConfigError) as err:
        SearchConfig.from_dict({**base, group: value})
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


def test_every_error_on_its_own_line_field_path_first(base):
    with pytest.raises(ConfigError) as err:
        SearchConfig.from_dict({**base, "population": 0, "lr": "x",
                                "ray": {"max_failures": -1}})
    lines = str(err.value).splitlines()
    assert sorted(line.split("=")[0] for line in lines) == ["lr", "population",
                                                            "ray.max_failures"]


def test_flat_name_typo_suggests_the_flat_name(base):
    with pytest.raises(ConfigError, match=r"unknown field 'adress'\. Did you mean 'address'"):
        SearchConfig.from_kwargs(**base, adress="ray://h:1")


# ---------------------------------------------------------------- option values
def test_option_values_are_checked_by_building_the_object():
    """`eps="abc"` used to pass the config and fail later inside a worker (TypeError)."""
    with pytest.raises(ConfigError) as err:
        SearchConfig(problem="zdt1", algorithm="epo", algorithm_options={"eps": "abc"})
    msg = str(err.value)
    assert msg.startswith("algorithm_options.eps='abc' is not allowed for algorithm 'epo'")
    assert "\n" not in msg
    # the failing option is named even next to valid ones
    with pytest.raises(ConfigError, match=r"^algorithm_options\.eps=-1 .*must be >= 0"):
        SearchConfig(problem="zdt1", algorithm="epo",
                     algorithm_options={"relax": True, "eps": -1})
    with pytest.raises(ConfigError, match=r"^problem_options\.n_var=1 .*'zdt1'"):
        SearchConfig(problem="zdt1", algorithm="epo", problem_options={"n_var": 1})
    ok = SearchConfig(problem="zdt1", algorithm="epo", algorithm_options={"eps": 0.01},
                      problem_options={"n_var": 5})
    assert ok.algorithm_options == {"eps": 0.01}


def test_field_names_and_pickling(full):
    """The fields the api and runner read, in order; a config survives pickle (Ray ships it)."""
    import pickle

    assert SearchConfig.field_names() == [
        "problem", "algorithm", "problem_options", "algorithm_options", "population", "steps",
        "steps_per_round", "workers", "adapter", "adapter_options", "lr", "optimizer",
        "optimizer_options", "seed", "run_dir", "ref_point", "checkpoint_every", "device",
        "progress", "directions", "objective_names", "ray", "scheduler"]
    again = pickle.loads(pickle.dumps(full))
    assert again == full and again.to_dict() == full.to_dict()
    assert again.ray.resources == {"cpu": 2, "gpu": 0.25}
