import pytest

from reimpl.errors import UnknownNameError
from reimpl.registry import Registry


class Base:
    pass


def test_register_get_and_list():
    registry = Registry("widget", base=Base)

    @registry.register("alpha-1")
    class Alpha(Base):
        pass

    assert registry.get("alpha-1") is Alpha
    assert registry.names() == ["alpha-1"]
    assert "alpha-1" in registry and len(registry) == 1


def test_unknown_name_suggests_close_matches_and_lists_all():
    registry = Registry("widget")
    registry.add("maskgit", object())
    registry.add("mage", object())
    with pytest.raises(UnknownNameError) as caught:
        registry.get("maskgti")
    assert "did you mean 'maskgit'" in str(caught.value)
    assert "mage, maskgit" in caught.value.hint


@pytest.mark.parametrize("bad", ["MaskGIT", "-x", "a b", "a_b", ""])
def test_bad_names_are_rejected(bad):
    with pytest.raises(ValueError):
        Registry("widget").add(bad, object())


def test_duplicates_base_class_and_freeze():
    registry = Registry("widget", base=Base)
    registry.add("a", Base)
    with pytest.raises(ValueError, match="already registered"):
        registry.add("a", type("Other", (Base,), {}))
    with pytest.raises(TypeError):
        registry.add("b", int)
    registry.freeze()
    with pytest.raises(RuntimeError, match="frozen"):
        registry.add("c", Base)
