"""The ``delivery:`` section: destination names of ``purposes.yaml`` bound to targets.

Each binding names a ``kind`` (registered through ``cdp_register_destinations``;
the built-in ones are in :mod:`cdp_plugin.delivery.kinds`) and the kind's
keys, plus, for a queued kind, an optional ``retry:`` mapping with the
outbox's retry policy (``max_attempts``, ``base_delay_seconds``,
``max_delay_seconds``, ``timeout_seconds``, ``batch_size``,
``poll_seconds``, ``lease_margin_seconds``)::

    delivery:
      warehouse: {kind: segment, url: "http://127.0.0.1:9000", write_key: wk_down}
      archive: {kind: jsonl, path: forwarded.jsonl}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from marshmallow import ValidationError

from cdp_plugin.callbacks.settings import OutboxSchema, OutboxSettings, flatten_errors
from cdp_plugin.config import Config
from cdp_plugin.delivery.targets import DirectTarget, QueuedTarget, TargetFactory
from cdp_plugin.errors import ConfigError
from cdp_plugin.rules.model import PurposeRules
from cdp_plugin.types import Outcome

if TYPE_CHECKING:
    from cdp_plugin.pipeline import Pipeline


@dataclass(slots=True)
class DeliveryPlan:
    """The loaded targets: ``direct`` ones written in the unit of work, ``queued``
    ones delivered from the store with their retry ``policies``."""

    direct: dict[str, DirectTarget] = field(default_factory=dict)
    queued: dict[str, QueuedTarget] = field(default_factory=dict)
    policies: dict[str, OutboxSettings] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.direct or self.queued)

    def close(self) -> None:
        targets: list[DirectTarget | QueuedTarget] = [*self.direct.values(),
                                                      *self.queued.values()]
        for target in targets:
            target.close()


def served(outcomes: Iterable[Outcome], destination: str
           ) -> Iterator[tuple[Outcome, Mapping[str, Any]]]:
    """The outcomes ``destination`` receives, in order, each with its payload: for
    every forwarded event whose purposes it serves, ``outcome.deliveries[destination]``
    if the minimization rules made one for it, else ``outcome.event``."""
    for outcome in outcomes:
        if outcome.event is not None and destination in outcome.destinations:
            yield outcome, outcome.deliveries.get(destination, outcome.event)


def forwarded_to(outcomes: Iterable[Outcome], destination: str) -> list[Mapping[str, Any]]:
    """What ``destination`` receives of ``outcomes``, in order (see :func:`served`)."""
    return [payload for _, payload in served(outcomes, destination)]


def plan_for(pipeline: Pipeline, config: Config) -> DeliveryPlan:
    """:func:`load_delivery` with the kinds the pipeline's plugins register."""
    return load_delivery(config, pipeline.runtime.rules.purposes,
                         pipeline.hooks.register_destinations())


def load_delivery(config: Config, rules: PurposeRules,
                  factories: Mapping[str, TargetFactory]) -> DeliveryPlan:
    """The configured targets by destination name; ConfigError names the key.

    Every name must be a destination of ``purposes.yaml``: a target bound to
    no destination would receive events for no stated purpose. Nothing is
    left open when a binding fails.
    """
    plan = DeliveryPlan()
    try:
        for name, spec in sorted(dict(config.delivery).items()):
            _bind(plan, str(name), spec, rules, factories)
    except BaseException:
        plan.close()
        raise
    return plan


def _bind(plan: DeliveryPlan, name: str, spec: Any, rules: PurposeRules,
          factories: Mapping[str, TargetFactory]) -> None:
    where = f"delivery.{name}"
    if name not in rules.destinations:
        raise ConfigError(f"{where}: not a destination of purposes.yaml")
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: must be a mapping with a kind")
    kind = spec.get("kind")
    factory = factories.get(kind) if isinstance(kind, str) else None
    if factory is None:
        raise ConfigError(f"{where}.kind: {kind!r} is not available; "
                          f"one of {', '.join(sorted(factories))}")
    spec = dict(spec)
    retry = spec.pop("retry", {})
    target = factory(name, spec)
    if isinstance(target, QueuedTarget):
        plan.queued[name] = target
        try:
            plan.policies[name] = OutboxSettings(**OutboxSchema().load(retry))
        except (ValidationError, TypeError) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else ["a mapping"]
            raise ConfigError("; ".join(flatten_errors(messages, f"{where}.retry"))) from None
    elif isinstance(target, DirectTarget):
        if retry:
            target.close()
            raise ConfigError(f"{where}.retry: a {kind} target is written at once, "
                              "never retried")
        plan.direct[name] = target
    else:
        raise ConfigError(f"{where}.kind: the {kind} factory returned no target "
                          "(it needs send() or write(), and close())")
