"""A name -> class registry; models are built from ``{"name": ..., "args": {...}}`` specs."""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict

_MODELS: Dict[str, Callable[..., Any]] = {}
_GENERATORS: Dict[str, Callable[..., Dict[str, Any]]] = {}


def _adder(table: Dict[str, Any], name: str, what: str):
    """A decorator putting its argument into ``table`` under ``name`` (a second one is an error)."""

    def deco(obj):
        if name in table:
            raise ValueError(f"{what} {name!r} is already registered (by {table[name].__name__})")
        table[name] = obj
        return obj

    return deco


def register(name: str):
    """Class decorator adding ``cls`` under ``name``; a second registration of a name is an error."""
    return _adder(_MODELS, name, "model name")


def registered() -> list[str]:
    return sorted(_MODELS)


def make(spec: Dict[str, Any], args: Dict[str, Any] | None = None, load_sd: bool = False):
    """Build ``spec["name"]`` with ``spec["args"]`` (updated by ``args``); load ``spec["sd"]`` if asked."""
    name = spec.get("name")
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(registered())}")
    model_args = copy.deepcopy(spec.get("args", {}) or {})
    if args:
        model_args.update(args)
    model = _MODELS[name](**model_args)
    if load_sd:
        model.load_state_dict(spec["sd"])
    return model


def register_generator(name: str):
    """Function decorator adding a *generator spec builder* under ``name``: it turns the
    training config's ``network_g`` options (``encoder``, ``hidden``, ``n_hidden``,
    ``image_skip``, ``encoder_args``, plus the family's own ``args``) into a model spec, so a
    decoder family is trained by naming it in ``network_g.type``."""
    return _adder(_GENERATORS, name, "generator type")


def generator_types() -> list[str]:
    return sorted(_GENERATORS)


def generator_spec(kind: str, **options: Any) -> Dict[str, Any]:
    """The model spec of generator type ``kind`` built from ``options`` (see :func:`register_generator`)."""
    if kind not in _GENERATORS:
        raise KeyError(f"unknown generator type {kind!r}; known: {', '.join(generator_types())}")
    return _GENERATORS[kind](**options)
