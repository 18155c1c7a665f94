"""A name -> class registry; models are built from ``{"name": ..., "args": {...}}`` specs."""

from __future__ import annotations

import copy
from typing import Any, Callable, Dict

_MODELS: Dict[str, Callable[..., Any]] = {}
_GENERATORS: Dict[str, Callable[..., Dict[str, Any]]] = {}


def register(name: str):
    """Class decorator adding ``cls`` under ``name``; a second registration of a name is an error."""

    def deco(cls):
        if name in _MODELS:
            raise ValueError(f"model name {name!r} is already registered (by {_MODELS[name].__name__})")
        _MODELS[name] = cls
        return cls

    return deco


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

    def deco(fn):
        if name in _GENERATORS:
            raise ValueError(f"generator type {name!r} is already registered")
        _GENERATORS[name] = fn
        return fn

    return deco


def generator_types() -> list[str]:
    return sorted(_GENERATORS)


def generator_spec(kind: str, **options: Any) -> Dict[str, Any]:
    """The model spec of generator type ``kind`` built from ``options`` (see :func:`register_generator`)."""
    if kind not in _GENERATORS:
        raise KeyError(f"unknown generator type {kind!r}; known: {', '.join(generator_types())}")
    return _GENERATORS[kind](**options)
