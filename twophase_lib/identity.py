"""What identifies a user's functions and values in a cache key, or a clear refusal when nothing can.

A :class:`twophase_lib.task.Task` is a network factory, data and a loss: Python callables, which a cache
key cannot hold. This module turns them into canonical JSON-able values that change whenever what they
compute can change, so two tasks that would train differently never share a key:

* plain values (numbers, strings, ``None``, numpy scalars, tuples, lists, dicts) are themselves; tensors and
  arrays are their dtype, shape and a sha256 of their bytes; dtypes, devices and enums their names;
* a ``functools.partial`` is its function and its arguments (``partial(F.cross_entropy, label_smoothing=0.9)``
  and ``label_smoothing=0.0`` differ);
* a function written by the user (a module-level function, a function defined in a notebook, a lambda, a
  closure) is its qualified name, its compiled code (bytecode, constants and names; not the file or line it
  sits on), its default arguments, the values its closure captured and the values of the module-level
  names it reads (numbers, strings, tensors, modules, other functions, modules' objects): two lambdas that
  compute different things differ, and so does one function after its body is edited;
* a function or class of an installed library (torch, numpy, this package, the standard library) is its
  qualified name: the library's version is in the numerics fingerprint (:mod:`twophase_lib.numerics`) or in
  :data:`twophase_lib.config.CACHE_VERSION`;
* a class written by the user is its qualified name and the code of every method it or its user-written
  bases define (an edited ``forward`` changes the identity);
* an ``nn.Module`` instance (``nn.CrossEntropyLoss(label_smoothing=0.1)``) is its class, its ``repr`` and its
  state; another callable object is its class and its attributes.

Anything else (an open file, a lock, an object whose attributes hold such things) raises
:class:`UnidentifiableError`, naming what could not be identified and where it was found.
What a user function reaches only through an attribute of a module (``mylib.SCALE``) or another
object's state is not followed: change such a thing and bump the task's ``version``.
"""

from __future__ import annotations

import dis
import enum
import functools
import hashlib
import json
import sys
import types
from typing import Any

import numpy as np
import torch
from torch import nn

#: Modules whose functions and classes are identified by name alone (their versions are recorded elsewhere).
LIBRARY_MODULES = (
    "torch",
    "numpy",
    "twophase_lib",
    "twophase_book",
    "functools",
    "math",
    "operator",
    "builtins",
    "collections",
    "typing",
    "einops",
    "scipy",
)


class UnidentifiableError(TypeError):
    """A task holds a function or value that cannot be turned into a cache key."""


def _is_library(module: str | None) -> bool:
    if not module:
        return False
    root = module.split(".", 1)[0]
    return root in LIBRARY_MODULES or root in sys.stdlib_module_names


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tensor_digest(t: torch.Tensor) -> str:
    """sha256 of a tensor's dtype, shape and bytes (0-dim, empty and non-contiguous tensors included)."""
    t = t.detach().cpu().contiguous().reshape(-1)
    h = hashlib.sha256(f"{t.dtype}".encode())
    if t.numel():
        h.update(t.view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _code(code: types.CodeType, seen: set) -> list:
    consts = [
        (_code(c, seen) if isinstance(c, types.CodeType) else _plain(c, f"a constant of {code.co_name}", seen))
        for c in code.co_consts
    ]
    return [
        code.co_name,
        code.co_argcount,
        code.co_kwonlyargcount,
        code.co_flags,
        code.co_code.hex(),
        consts,
        list(code.co_names),
        list(code.co_varnames),
        list(code.co_freevars),
    ]


_GLOBAL_OPS = {"LOAD_GLOBAL", "STORE_GLOBAL", "DELETE_GLOBAL", "LOAD_NAME"}


def _global_names(code: types.CodeType) -> set[str]:
    """The module-level names a code object (and the functions, lambdas and comprehensions nested in it) reads:
    the arguments of its global-name instructions, not ``co_names`` (which also holds attribute names, so that
    ``x.cache`` would drag in a global called ``cache``)."""
    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in _GLOBAL_OPS}
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            names |= _global_names(c)
    return names


def _function(fn: types.FunctionType, seen: set) -> dict:
    name = f"{fn.__module__}.{fn.__qualname__}"
    if _is_library(fn.__module__):
        return {"function": name}
    if id(fn) in seen:  # recursion (a function that names itself)
        return {"function": name, "recursive": True}
    seen = seen | {id(fn)}
    out = {
        "function": name,
        "code": _code(fn.__code__, seen),
        "defaults": _plain(fn.__defaults__, f"the defaults of {name}", seen),
        "kwdefaults": _plain(fn.__kwdefaults__, f"the keyword defaults of {name}", seen),
    }
    if fn.__closure__:
        cells = {}
        for var, cell in zip(fn.__code__.co_freevars, fn.__closure__):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell (a name assigned after the function was defined)
                value = None
            cells[var] = _plain(value, f"the variable {var!r} captured by {name}", seen)
        out["closure"] = cells
    globs = {}
    for g in sorted(_global_names(fn.__code__)):
        if g in fn.__globals__:
            globs[g] = _plain(fn.__globals__[g], f"the global {g!r} read by {name}", seen)
    if globs:
        out["globals"] = globs
    return out


def class_identity(cls: type, seen: set | None = None) -> dict:
    """A class's qualified name and, for user-written classes, every method it and its user-written bases define,
    identified as functions (code, defaults, the module-level values they read), and every other value their
    bodies set (``SCALE = 2.0``, read as ``self.SCALE``); library classes: the name alone."""
    seen = set() if seen is None else seen
    name = f"{cls.__module__}.{cls.__qualname__}"
    if _is_library(cls.__module__) or id(cls) in seen:
        return {"class": name}
    seen = seen | {id(cls)}
    methods, values = {}, {}
    for base in cls.__mro__:
        if base is object or _is_library(base.__module__):
            continue
        for attr, value in sorted(vars(base).items()):
            fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
            if isinstance(value, property):
                fn = value.fget
            if isinstance(fn, types.FunctionType):
                methods[f"{base.__qualname__}.{attr}"] = _function(fn, seen)
            elif not (attr.startswith("__") and attr.endswith("__")) and not isinstance(value, (type, property)):
                values[f"{base.__qualname__}.{attr}"] = _plain(value, f"the class attribute {attr!r} of {name}",
                                                               seen)
    out = {"class": name, "methods": methods}
    if values:  # only where there are some, so the keys of classes without them stay as they were
        out["values"] = values
    return out


def module_identity(module: nn.Module, seen: set | None = None) -> dict:
    """An ``nn.Module`` instance: the identity of every module class it contains, its ``repr`` (layer sizes,
    dropout rates, activations), every submodule's public attributes (``label_smoothing``), the digest of its state
    (parameters and buffers), its frozen parameters
    (``requires_grad=False``) and its tied ones (one tensor under several names)."""
    seen = set() if seen is None else seen
    classes = sorted({type(m) for m in module.modules()}, key=lambda c: f"{c.__module__}.{c.__qualname__}")
    state = hashlib.sha256()
    for k, v in module.state_dict().items():
        if isinstance(v, torch.Tensor):
            state.update(f"{k}{tuple(v.shape)}{tensor_digest(v)}".encode())
        else:  # a module's extra state (get_extra_state), any picklable value
            state.update(f"{k}{identity_digest(v, f'the extra state {k!r}')}".encode())
    frozen = [n for n, p in module.named_parameters() if not p.requires_grad]
    aliases: dict[int, list[str]] = {}
    for n, p in module.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(p), []).append(n)
    tied = sorted(names for names in aliases.values() if len(names) > 1)
    settings = {}
    for name, m in module.named_modules():
        own = {k: v for k, v in vars(m).items() if not k.startswith("_") and k != "training"}
        if own:
            settings[name] = _plain(own, f"an attribute of the module {name or type(m).__name__!r}", seen)
    return {
        "module": repr(module),
        "classes": [class_identity(c, seen) for c in classes],
        "state": state.hexdigest(),
        "settings": settings,
        "frozen": frozen,
        "tied": tied,
    }


def _plain(value: Any, where: str, seen: set) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, np.generic):
        return _plain(value.item(), where, seen)
    if isinstance(value, bytes):
        return {"bytes": _digest(value)}
    if isinstance(value, (tuple, list)):
        return [_plain(v, where, seen) for v in value]
    if isinstance(value, (set, frozenset)):
        return {"set": sorted((_plain(v, where, seen) for v in value), key=repr)}
    if isinstance(value, dict):
        return {
            "dict": [
                [_plain(k, where, seen), _plain(v, where, seen)]
                for k, v in sorted(value.items(), key=lambda kv: repr(kv[0]))
            ]
        }
    if isinstance(value, torch.Tensor):
        return {"tensor": [str(value.dtype), list(value.shape), tensor_digest(value)]}
    if isinstance(value, np.ndarray):
        return {"array": [str(value.dtype), list(value.shape), _digest(np.ascontiguousarray(value).tobytes())]}
    if isinstance(value, (torch.dtype, torch.device, torch.Size)):
        return {type(value).__name__: str(value)}
    if isinstance(value, enum.Enum):
        return {"enum": f"{type(value).__module__}.{type(value).__qualname__}.{value.name}"}
    if isinstance(value, types.ModuleType):
        return {"module_name": value.__name__}
    if isinstance(value, type):
        return class_identity(value, seen)
    if isinstance(value, functools.partial):
        return {
            "partial": _plain(value.func, where, seen),
            "args": _plain(value.args, where, seen),
            "keywords": _plain(value.keywords, where, seen),
        }
    if isinstance(value, types.FunctionType):
        return _function(value, seen)
    if isinstance(value, types.MethodType):
        return {"method": _plain(value.__func__, where, seen), "of": _plain(value.__self__, where, seen)}
    if isinstance(value, (types.BuiltinFunctionType, types.BuiltinMethodType)) or type(value).__name__ in (
        "builtin_function_or_method",
        "method_descriptor",
        "wrapper_descriptor",
        "_lru_cache_wrapper",
    ):
        module = getattr(value, "__module__", None) or getattr(type(getattr(value, "__self__", None)), "__module__", "")
        return {"builtin": f"{module}.{getattr(value, '__qualname__', getattr(value, '__name__', repr(value)))}"}
    if isinstance(value, nn.Module):
        if id(value) in seen:  # a module that refers back to one being identified
            return {"module_ref": f"{type(value).__module__}.{type(value).__qualname__}"}
        return module_identity(value, seen | {id(value)})
    if _is_library(type(value).__module__) and hasattr(value, "__qualname__"):
        return {"library": f"{type(value).__module__}.{value.__qualname__}"}  # e.g. a torch._ops operator
    if hasattr(value, "__dict__"):
        if id(value) in seen:  # a cycle: the object is already being identified higher up
            return {"object_ref": f"{type(value).__module__}.{type(value).__qualname__}"}
        return {
            "object": class_identity(type(value), seen),
            "attributes": _plain(
                dict(vars(value)), f"{where} (an attribute of a {type(value).__name__})", seen | {id(value)}
            ),
        }
    raise UnidentifiableError(
        f"{where} is a {type(value).__module__}.{type(value).__qualname__}, which cannot be identified for the "
        "cache (a cached result would be found again after it changed). Pass plain values (numbers, strings, "
        "tensors, arrays, tuples), module-level functions or classes, or functools.partial of them."
    )


def identify(value: Any, where: str = "the value") -> Any:
    """The canonical JSON-able identity of a value or callable (see the module docstring).

    Args:
        value: a function, ``functools.partial``, class, ``nn.Module``, callable object, tensor, array or plain value.
        where: how to name ``value`` in an error message (e.g. "task 'mine': the loss").

    Returns:
        Nested lists, dicts, strings and numbers; equal for values that compute the same thing.

    Raises:
        UnidentifiableError: ``value`` holds something whose effect on a result cannot be identified.
    """
    return _plain(value, where, set())


def identity_digest(value: Any, where: str = "the value") -> str:
    """sha256 (hex) of :func:`identify`'s canonical JSON."""
    return _digest(json.dumps(identify(value, where), sort_keys=True).encode())
