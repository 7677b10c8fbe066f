"""Tests of paretoray/_registry.py: one registry mechanism for problems, algorithms, adapters."""

from __future__ import annotations

import pytest

from paretoray import algorithms, problems
from paretoray._registry import Registry
from paretoray.errors import ConfigError, UnknownNameError
from paretoray.preferences import adapters


class Thing:
    name = ""

    def __init__(self, size: int = 1, *, colour: str = "red") -> None:
        self.size, self.colour = size, colour


@pytest.fixture
def reg() -> Registry[Thing]:
    r: Registry[Thing] = Registry("thing", Thing)
    r.register("Big_Thing")(Thing)
    return r


def test_problems_algorithms_and_adapters_share_one_mechanism():
    for module, kind in ((problems, "problem"), (algorithms, "algorithm"),
                         (adapters, "adapter")):
        assert type(module.REGISTRY) is Registry and module.REGISTRY.kind == kind
        # the package functions are the registry's own methods, not pasted copies
        assert module.get == module.REGISTRY.get
        assert module.names == module.REGISTRY.names
        assert module.register == module.REGISTRY.register
    assert adapters.get("fixed").name == "fixed"


def test_register_names_the_class_and_refuses_a_second_factory(reg):
    assert Thing.name == "Big_Thing" and reg.names() == ["big_thing"]
    assert "BIG_THING" in reg and list(reg) == ["big_thing"]
    reg.register("big_thing")(Thing)  # the same factory again is fine
    with pytest.raises(ValueError, match="'big_thing' is registered twice"):
        reg.register("big_thing")(dict)


def test_get_builds_passes_instances_and_checks_options(reg):
    t = reg.get("big_thing", size=3, colour="blue")
    assert (t.size, t.colour) == (3, "blue")
    assert reg.get(t) is t
    with pytest.raises(ConfigError) as err:
        reg.get("big_thing", colur="blue")
    assert str(err.value) == ("thing 'big_thing' has no option 'colur'. Did you mean 'colour'? "
                              "Allowed options: size, colour.")
    with pytest.raises(UnknownNameError) as err:
        reg.get("big_thin")
    msg = str(err.value)
    assert "Unknown thing 'big_thin'; allowed values: big_thing." in msg
    assert "Did you mean 'big_thing'?" in msg


def test_a_predicate_decides_what_passes_through():
    r: Registry[object] = Registry("thing", lambda obj: hasattr(obj, "is_network"))
    r.register("t")(Thing)

    class Net:
        is_network = True

    net = Net()
    assert r.get(net) is net
    assert isinstance(r.get("t"), Thing)
    assert r.options("t") == ["size", "colour"]
