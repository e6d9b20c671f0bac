"""The contents of ``jurisdictions.yaml``: privacy regimes and where each applies."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

CONSENT_MODELS: tuple[str, ...] = ("opt_in", "opt_out")


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """A privacy regime: whether consent is opt-in or opt-out, and where it applies."""

    name: str
    model: str
    honours_gpc: bool
    countries: frozenset[str]
    regions: frozenset[str]


@dataclass(frozen=True, slots=True)
class JurisdictionRules:
    """The contents of ``jurisdictions.yaml``.

    ``default`` names the regime applied when the location is unknown or not
    listed; it is meant to be the strictest one.
    """

    regimes: Mapping[str, Jurisdiction]
    default: str
    _by_region: Mapping[str, Jurisdiction] = field(init=False, repr=False, compare=False)
    _by_country: Mapping[str, Jurisdiction] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.default not in self.regimes:
            raise ValueError(f"default regime {self.default!r} is not defined")
        by_region = {code: regime for regime in self.regimes.values() for code in regime.regions}
        by_country = {code: regime for regime in self.regimes.values() for code in regime.countries}
        object.__setattr__(self, "_by_region", by_region)
        object.__setattr__(self, "_by_country", by_country)

    def resolve(self, country: str | None, region: str | None) -> Jurisdiction:
        """The regime for a location: the region's first, then the country's, else the default.

        ``country`` is an ISO 3166-1 alpha-2 code and ``region`` an ISO 3166-2 code
        (``US-CA``); a bare subdivision (``CA``) is read relative to ``country``.
        Codes are compared case-insensitively. Never raises for unknown codes.
        """
        country_code = country.strip().upper() if country else ""
        if region:
            region_code = region.strip().upper()
            if "-" not in region_code and country_code:
                region_code = f"{country_code}-{region_code}"
            found = self._by_region.get(region_code)
            if found is not None:
                return found
        found = self._by_country.get(country_code)
        return found if found is not None else self.regimes[self.default]
