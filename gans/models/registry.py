"""The GAN registry: families loaded from installed entry points or from specs the user typed.

A family is a subclass of :class:`~gans.models.core.GAN` that declares everything about itself as class
attributes (``Config``, ``data_shape``, defaults, dry-run overrides, the regression gate's settings, CPU size
reductions, reference loops). ganbench's own families are found through the same entry-point group,
``ganbench.gans``, as any installed package's (see :mod:`gans.families`).

:func:`load_family` imports a family from what the user typed (a registered name, ``PATH.py:CLASS`` or
``MODULE:CLASS``); :func:`get_gan_entry` looks one up. A file or module spec is only ever imported by
:func:`load_family`: a name read back from a run folder, a sweep file or a baseline reaches
:func:`get_gan_entry`, which loads installed entry points and nothing else, and says how to name an external
family again when it is not loaded.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import inspect
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from ..base import UserError, unknown_name
from ..families import BUILTIN_DIST, Spec, entry_point_table, is_spec, parse_spec
from .core import GAN

__all__ = [
    "GANEntry",
    "load_family",
    "get_gan_entry",
    "list_gans",
    "iter_entries",
    "build_gan",
    "apply_overrides",
    "check_family",
]


@dataclass(frozen=True)
class GANEntry:
    """A loaded family: its name (what runs record), class, and where it came from."""

    name: str  # the entry-point name, or the canonical spec (files by absolute path)
    cls: type[GAN]
    origin: str  # "built-in", "entry point (dist version)", "file", "module"
    source: str  # the module:Class or file path it was loaded from

    @property
    def config_cls(self) -> type:
        return self.cls.Config

    @property
    def seed_section(self) -> str:
        return self.cls.seed_section

    @property
    def summary(self) -> str:
        return self.cls.summary or (inspect.getdoc(self.cls) or "").split("\n")[0]

    @property
    def external(self) -> bool:
        return self.origin != "built-in"

    def default_config(self) -> Any:
        return self.cls.Config()


_LOADED: dict[str, GANEntry] = {}


def load_family(ref: str | type[GAN]) -> GANEntry:
    """Load a family from what the user typed: a registered name, ``PATH.py:CLASS`` or ``MODULE:CLASS``
    (or a :class:`GAN` subclass itself, from Python). Every failure is one :class:`UserError` line naming the
    file or module and the cause."""
    if isinstance(ref, type):
        name = f"{ref.__module__}:{ref.__qualname__}"
        if name not in _LOADED:
            check_family(ref, name)
            _LOADED[name] = GANEntry(name, ref, "class", name)
            _name_class(ref, name)
        return _LOADED[name]
    spec = parse_spec(ref)
    if spec.text in _LOADED:
        return _LOADED[spec.text]
    if spec.kind == "entry_point":
        return _load_entry_point(spec.target)
    cls = _import_file(spec) if spec.kind == "file" else _import_module(spec)
    check_family(cls, spec.text)
    entry = GANEntry(spec.text, cls, spec.kind, spec.text)
    _name_class(cls, spec.text)
    _LOADED[spec.text] = entry
    return entry


def get_gan_entry(name: str) -> GANEntry:
    """The family registered as ``name`` (an installed entry point, loaded on first use) or loaded earlier by
    :func:`load_family`. Never imports a file or module spec: those must be typed by the user."""
    if not isinstance(name, str):
        raise UserError(f"a GAN name must be a string, got {type(name).__name__}")
    if name in _LOADED:
        return _LOADED[name]
    if is_spec(name):
        try:
            text = parse_spec(name).text
        except UserError:
            text = name
        if text in _LOADED:
            return _LOADED[text]
        raise UserError(
            f"GAN {name!r} is an external family that is not loaded here; ganbench imports code only from what "
            "you type or install, never from a run folder, sweep file or baseline: name it again on the command "
            "line (e.g. `ganbench train --resume RUN_DIR " + name + "`), or install it as an entry point"
        )
    if name not in entry_point_table():
        raise unknown_name("GAN", name, list_gans())
    return _load_entry_point(name)


def list_gans() -> list[str]:
    """The installed families' names (built-in and entry points), sorted; loading none of them."""
    return list(entry_point_table())


def iter_entries() -> Iterator[GANEntry]:
    """Every installed family, loaded, in name order."""
    for name in list_gans():
        yield get_gan_entry(name)


def build_gan(name: str, overrides: dict[str, Any] | None = None, *, device: torch.device | str = "cpu") -> GAN:
    """Build a family (registered or loaded) with its defaults plus ``overrides`` on ``device``."""
    entry = get_gan_entry(name)
    config = apply_overrides(entry.default_config(), overrides)
    if entry.external:
        try:
            gan = entry.cls(config)
        except Exception as e:  # the user's own __init__: its error, one line, named
            where = f"{entry.cls.__name__}.__init__"
            raise UserError(f"{entry.name}: building it failed in {where}: {_first_line(e)}") from None
    else:
        gan = entry.cls(config)
    for net in ("G", "D"):
        if not isinstance(getattr(gan, net, None), torch.nn.Module):
            raise UserError(f"{entry.name}: __init__ must set self.{net} to an nn.Module (ganbench.GAN's contract)")
    gan.to(device)
    gan.build_optimizers()
    return gan


# --------------------------------------------------------------------------------------------
# Loading


def _load_entry_point(name: str) -> GANEntry:
    info = entry_point_table()[name]
    module, _, attr = info.value.partition(":")
    where = f"entry point {name!r} of {info.dist}"
    try:
        obj: Any = importlib.import_module(module.strip())
        for part in attr.strip().split(".") if attr.strip() else []:
            obj = getattr(obj, part)
    except Exception as e:  # the plug-in's own import failed: its message, one line
        raise UserError(f"{where} ({info.value}): importing it failed: {_first_line(e)}") from None
    check_family(obj, f"{where} ({info.value})")
    origin = "built-in" if info.dist.lower() == BUILTIN_DIST else f"entry point ({info.dist} {info.version})".strip()
    entry = GANEntry(name, obj, origin, info.value)
    _name_class(obj, name)
    _LOADED[name] = entry
    return entry


def _import_file(spec: Spec) -> Any:
    path = Path(spec.target)
    if not path.is_file():
        raise UserError(f"{path}: no such file (GAN spec {spec.text!r})")
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:10]
    modname = f"ganbench_family_{path.stem if path.stem.isidentifier() else 'file'}_{digest}"
    module = sys.modules.get(modname)
    if module is None:
        loader_spec = importlib.util.spec_from_file_location(modname, path)
        if loader_spec is None or loader_spec.loader is None:
            raise UserError(f"{path}: not an importable Python file")
        module = importlib.util.module_from_spec(loader_spec)
        sys.modules[modname] = module  # dataclasses and pickling look the module up by name
        try:
            loader_spec.loader.exec_module(module)
        except SyntaxError as e:
            del sys.modules[modname]
            raise UserError(f"{path}:{e.lineno}: syntax error: {e.msg}") from None
        except BaseException as e:
            del sys.modules[modname]
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            raise UserError(f"{path}: importing it failed: {_first_line(e)}") from None
    if not hasattr(module, spec.attr):
        raise UserError(f"{path}: defines no {spec.attr!r}{_candidates(module)}")
    return getattr(module, spec.attr)


def _import_module(spec: Spec) -> Any:
    try:
        module = importlib.import_module(spec.target)
    except ModuleNotFoundError as e:
        if e.name and spec.target.startswith(e.name):
            raise UserError(f"module {spec.target!r}: not found (GAN spec {spec.text!r}; is it installed?)") from None
        raise UserError(f"module {spec.target!r}: importing it failed: {_first_line(e)}") from None
    except Exception as e:
        raise UserError(f"module {spec.target!r}: importing it failed: {_first_line(e)}") from None
    if not hasattr(module, spec.attr):
        raise UserError(f"module {spec.target!r}: defines no {spec.attr!r}{_candidates(module)}")
    return getattr(module, spec.attr)


def _candidates(module: Any) -> str:
    names = sorted(
        n
        for n, v in vars(module).items()
        if isinstance(v, type) and issubclass(v, GAN) and v.__module__ == module.__name__
    )
    return f"; its ganbench.GAN subclasses: {', '.join(names)}" if names else "; it defines no ganbench.GAN subclass"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:300]}" if text else type(e).__name__


def _name_class(cls: type[GAN], name: str) -> None:
    if not cls.__dict__.get("name"):
        cls.name = name


# --------------------------------------------------------------------------------------------
# The contract


def check_family(cls: Any, where: str) -> None:
    """Check ``cls`` against the family contract; one :class:`UserError` naming ``where`` and what is wrong."""
    if not (isinstance(cls, type) and issubclass(cls, GAN)):
        what = type(cls).__name__ if not isinstance(cls, type) else f"class {cls.__name__}"
        raise UserError(f"{where}: names a {what}, not a subclass of ganbench.GAN")
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
        raise UserError(f"{where}: {cls.__name__}.Config must be a dataclass (the family's settings)")
    try:
        cfg = config()
    except TypeError as e:
        raise UserError(f"{where}: {cls.__name__}.Config() must build with no arguments ({e})") from None
    shape = cls.data_shape
    if not (isinstance(shape, tuple) and shape and all(isinstance(s, int) and s > 0 for s in shape)):
        raise UserError(f"{where}: {cls.__name__}.data_shape must be a tuple of positive ints, e.g. (1, 28, 28)")
    if cls.kind not in ("probability", "critic"):
        raise UserError(f"{where}: {cls.__name__}.kind must be 'probability' or 'critic', got {cls.kind!r}")
    for attr in ("default_batch_size", "default_epochs"):
        v = getattr(cls, attr)
        if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
            raise UserError(f"{where}: {cls.__name__}.{attr} must be a positive int, got {v!r}")
    if cls.d_logits is GAN.d_logits:
        raise UserError(f"{where}: {cls.__name__} must implement d_logits(x, labels=None)")
    needs = set()
    if cls.phases is GAN.phases:
        if cls.kind == "critic":
            raise UserError(f"{where}: a critic family must define phases() (the default is the BCE schedule)")
    if cls.build_optimizers is GAN.build_optimizers:
        needs |= {"lr", "beta1", "beta2"}
    if cls.latent is GAN.latent:
        needs.add("z_dim")
    missing = sorted(n for n in needs if not hasattr(cfg, n))
    if missing:
        raise UserError(f"{where}: {cls.__name__}.Config lacks {', '.join(missing)} (used by the default methods)")
    for attr in ("gate", "cpu_reduction", "dry_run_overrides", "references"):
        if not isinstance(getattr(cls, attr), dict):
            raise UserError(f"{where}: {cls.__name__}.{attr} must be a dict")


# --------------------------------------------------------------------------------------------
# Config overrides (--set KEY=VALUE)


def apply_overrides(config: Any, overrides: dict[str, Any] | None) -> Any:
    """A copy of a config dataclass with ``overrides`` applied; strings are parsed to the field's type."""
    if not overrides:
        return config
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes = {}
    for key, value in overrides.items():
        if key not in fields:
            raise UserError(f"{type(config).__name__} has no field {key!r}; fields: {', '.join(fields)}")
        current = getattr(config, key)
        if isinstance(value, str) and not isinstance(current, str):
            value = _parse_value(key, value, current)
        changes[key] = value
    return dataclasses.replace(config, **changes)


def _parse_value(key: str, text: str, current: Any) -> Any:
    import ast

    if isinstance(current, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise UserError(f"--set {key}={text}: expected true or false")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        raise UserError(f"--set {key}={text}: cannot parse {text!r} as {type(current).__name__}") from None
    if isinstance(current, float) and isinstance(value, int):
        value = float(value)
    if current is not None and not isinstance(value, type(current)):
        raise UserError(f"--set {key}={text}: expected {type(current).__name__}, got {type(value).__name__}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise UserError(f"--set {key}={text}: must be a finite number")
        positive = (
            isinstance(current, (int, float)) and current > 0 and (key.startswith("lr") or isinstance(current, int))
        )
        if positive and value <= 0:
            raise UserError(f"--set {key}={text}: must be > 0 (default {current})")
        if isinstance(current, (int, float)) and current >= 0 and value < 0:
            raise UserError(f"--set {key}={text}: must be ≥ 0 (default {current})")
    return value
