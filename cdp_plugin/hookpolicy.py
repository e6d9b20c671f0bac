"""The error policy of each kind of hook, applied inside pluggy's own call loop.

:class:`CdpPluginManager` overrides pluggy's ``_hookexec`` so every hook call,
however it is made, runs through :func:`pluggy`'s multicall with pluggy's
order (``tryfirst``/``trylast``, registration order) and wrappers intact,
and with each implementation guarded by the policy of its hook's kind:

* **Observer hooks** (:data:`cdp_plugin.hookspecs.OBSERVER_HOOKS`): a failing
  implementation is logged (plugin name and exception type, never the
  arguments) and skipped; the others still run. A failing observer wrapper
  passes the result through as if it were absent.
* **Every other hook** (deciding, transforming, lifecycle): the first
  implementation to raise is named from its ``plugin_name`` and the call
  raises :class:`~cdp_plugin.errors.PluginError` with the original exception
  as ``cause``; a wrapper that lets the exception through is not blamed for
  it. :class:`~cdp_plugin.errors.AuditError` propagates unchanged, since it
  means the audit log itself is unavailable, whoever noticed.

An exception pluggy raises itself (a hook called without an argument its
spec names) is a bug of the caller and propagates unchanged.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import suppress
from typing import Any

import pluggy
from pluggy import HookImpl

from cdp_plugin.errors import AuditError, PluginError
from cdp_plugin.hookspecs import OBSERVER_HOOKS
from cdp_plugin.markers import NAME

log = logging.getLogger(__name__)

_ORIGIN = "_cdp_plugin_origin"
"""Attribute set on an exception naming the plugin whose implementation raised it."""

_Function = Callable[..., Any]


class CdpPluginManager(pluggy.PluginManager):
    """pluggy's manager, project ``cdp_plugin``, with the per-kind error policy."""

    def __init__(self) -> None:
        super().__init__(NAME)
        # Guarded copies of the implementations, built once each: pluggy hands
        # the same HookImpl objects to every call of a hook.
        self._guarded: dict[int, tuple[HookImpl, HookImpl]] = {}
        # pluggy's own call loop; tracing or call monitoring replaces it, and then
        # every call goes through it, so the tracer sees each one.
        self._untraced = self._inner_hookexec

    def _hookexec(self, hook_name: str, methods: Sequence[HookImpl],
                  kwargs: Mapping[str, object], firstresult: bool) -> object | list[object]:
        observer = hook_name in OBSERVER_HOOKS
        guarded = [self._guard(impl, hook_name, observer) for impl in methods]
        try:
            if len(guarded) == 1 and self._inner_hookexec is self._untraced:
                single = _call_single(guarded[0], kwargs, firstresult)
                if single is not _NOT_SINGLE:
                    return single
            return super()._hookexec(hook_name, guarded, kwargs, firstresult)
        except AuditError:
            raise
        except Exception as exc:
            plugin = getattr(exc, _ORIGIN, None)
            if not isinstance(plugin, str):
                raise
            raise PluginError(plugin, hook_name, exc) from exc

    def _guard(self, impl: HookImpl, hook_name: str, observer: bool) -> HookImpl:
        cached = self._guarded.get(id(impl))
        if cached is not None and cached[0] is impl:
            return cached[1]
        wrapping = impl.wrapper or impl.hookwrapper
        if observer:
            function = (_isolated_wrapper if wrapping else _isolated)(impl, hook_name)
        else:
            function = (_attributed_wrapper if wrapping else _attributed)(impl)
        # functools.wraps keeps the signature visible (``__wrapped__``), so
        # pluggy passes the guarded copy the same arguments as the original.
        guarded = HookImpl(impl.plugin, impl.plugin_name, functools.wraps(impl.function)(function),
                           impl.opts)
        self._guarded[id(impl)] = (impl, guarded)
        return guarded


_NOT_SINGLE = object()


def _call_single(impl: HookImpl, kwargs: Mapping[str, object],
                 firstresult: bool) -> object:
    """What pluggy's multicall returns for one plain implementation (no wrapper,
    no keyword-only arguments), without its loop: most hooks have exactly one, on
    every event. :data:`_NOT_SINGLE` for any other shape, or a missing argument
    (multicall then runs and raises pluggy's own error)."""
    if impl.wrapper or impl.hookwrapper or impl.kwargnames:
        return _NOT_SINGLE
    try:
        args = [kwargs[name] for name in impl.argnames]
    except KeyError:
        return _NOT_SINGLE
    result = impl.function(*args)
    if firstresult:
        return result
    return [] if result is None else [result]


def _blame(exc: BaseException, plugin_name: str) -> None:
    """Name ``plugin_name`` as the origin of ``exc`` unless an inner one already is."""
    if getattr(exc, _ORIGIN, None) is None:
        with suppress(AttributeError, TypeError):  # a type that takes no attributes
            setattr(exc, _ORIGIN, plugin_name)


def _attributed(impl: HookImpl) -> _Function:
    original: _Function = impl.function
    plugin_name = impl.plugin_name

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except Exception as exc:
            _blame(exc, plugin_name)
            raise

    return call


def _attributed_wrapper(impl: HookImpl) -> _Function:
    original: _Function = impl.function
    plugin_name = impl.plugin_name

    def call(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        try:
            # ``yield from`` forwards what pluggy sends or throws in, so the
            # wrapper sees the inner result or exception exactly as unguarded.
            return (yield from original(*args, **kwargs))
        except Exception as exc:
            _blame(exc, plugin_name)
            raise

    return call


def _failed(impl: HookImpl, hook_name: str, exc: BaseException) -> None:
    log.error("observer %s failed in %s: %s", impl.plugin_name, hook_name,
              type(exc).__name__)


def _isolated(impl: HookImpl, hook_name: str) -> _Function:
    original: _Function = impl.function

    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return original(*args, **kwargs)
        except Exception as exc:
            _failed(impl, hook_name, exc)
            return None

    return call


def _isolated_wrapper(impl: HookImpl, hook_name: str) -> _Function:
    original: _Function = impl.function

    def call(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        try:
            teardown = original(*args, **kwargs)
            next(teardown)
        except Exception as exc:
            _failed(impl, hook_name, exc)
            return (yield)
        result = yield
        try:
            teardown.send(result)
        except StopIteration as stop:
            return stop.value
        except Exception as exc:
            _failed(impl, hook_name, exc)
            return result
        teardown.close()
        _failed(impl, hook_name, RuntimeError("wrapper yielded twice"))
        return result

    return call
