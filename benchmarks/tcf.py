"""Per-string cost of decoding TCF v2 TC strings: ours against the ``iab-tcf`` package.

Usage: ``python benchmarks/tcf.py [--generated N] [--repeat R]``

Times, on the same strings in the same run:

(a) ``cdp_plugin.signals.decode_tcf`` (all segments, vendor ranges expanded to
    sorted IDs, every read bounds-checked);
(b) ``iab_tcf.decode`` from the ``iab-tcf`` package (all segments; ranges kept as
    (start, end) pairs, bitfields as dicts, no bounds checks).

The strings are the shared vectors, the IAB reference-library strings both
decoders accept, and N generated ones shaped like real CMP output (a vendor list
of about 1300 IDs, bitfield or range encoding whichever is shorter, publisher
restrictions, disclosed vendors, sometimes a publisher TC segment), seeded so
every run sees the same strings. Before timing, both decoders must agree on the
CMP, purposes and vendor consents of every string. Each figure is the median
over R repeats of total time / strings, in microseconds.

If ``iab_tcf`` is not installed, only (a) is measured: ``pip install iab-tcf``.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cdp_plugin.signals import ConsentStringError, decode_tcf


def _load_theirs() -> Any:
    try:
        return importlib.import_module("iab_tcf")
    except ImportError:  # measured only when installed
        return None


iab_tcf: Any = _load_theirs()

VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "vectors" / "consent_strings.json"

# Public strings from the IAB reference libraries' tests (iabtcf-java TCStringV2Test,
# iabgpp-java TcfEuV2Test), used when the shared vectors are absent and as extra inputs.
REFERENCE = [
    "COtybn4PA_zT4KjACBENAPCIAEBAAECAAIAAAAAAAAAA",
    "CPTtLAAPTtLAAAAAAAENAAFgALwAAEAAAAAAAOgAgABgAAAA.IAoAAgABgAAEAQAAEAAA.d4AACEAAAAAA",
    "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA",
    "COrEAV4OrXx94ACABBENAHCIAD-AAAAAAACAAxAAAAgAIAwgAgAAAAEAgQAAAAAEAYQAQAAAACAAAABAAA"
    ".IBAgAAAgAIAwgAgAAAAEAAAACA.QAagAQAgAIAwgA.cAAAAAAAITg=",
    "COv__-wOv__-wC2AAAENAPCgAAAAAAAAAAAAA_wAQA_gEBABAEAAAA",
    "COwxsONOwxsONKpAAAENAdCAAMAAAAAAAAAAAAAAAAAA",
    "COoC-kUOoC-kUAHABAENAwCoAIAAAELAAAwIF5wAoAAgAGAvMACX_ABBAAQAFA",
    "COv_eg6Ov_eg6AOADBENAaCgAP_AAH_AACiQAVEUQQoAIQAqIoghAAQgAA.YAAAAAAAAAAAAAAAAAA",
    "CPgA5EAPgA5EAAOACBENCuCoAP_AAEfAACiQI0Nd_H__bX9n-f7_6Pt0cY1f9_r3ruQzDhfFk-8F3L_W3LwX32E"
    "7NF36pq4KmR4ku1LBIQFtHMnUDUmxaokVrzHsak2cpyNKI7BkknsZe2dYGF9Pm5lD-QKZ7_5_d3f52T_9_9v-39z"
    "339V3v3d93-_12PjdV599H_v9fR_b8_Kf9_5-_4v8___4IQAAAAQQ_AJMNW4gC7EscCbQMIoAQIwrCQqAUAEFAM"
    "LRAYAODgpmVgEusIEACAUARgRAhxBRgQCAAACAJCIAJAiwQAIAiAQAAgARAIQAEDAIKACwMAgABANAxACgAECQgy"
    "ICIpTAgIgSCAlsqEEoKpDTCAKssAKARGwUACIAABSAAICwcAwRICViwQJMUbwAw0AGAAIJHCIAMAAQSOFQAYAAgk"
    "cA",
]

_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_GVL_MAX = 1300


# --- a small encoder for realistic strings --------------------------------------------


def _num(value: int, width: int) -> str:
    return format(value, f"0{width}b")


def _flags(ids: set[int], width: int) -> str:
    return "".join("1" if i in ids else "0" for i in range(1, width + 1))


def _b64(bits: str) -> str:
    # As the reference encoders: pad to whole bytes, then to whole characters.
    bits += "0" * (-len(bits) % 8)
    bits += "0" * (-len(bits) % 6)
    return "".join(_URLSAFE[int(bits[i:i + 6], 2)] for i in range(0, len(bits), 6))


def _runs(ids: set[int]) -> list[tuple[int, int]]:
    runs: list[tuple[int, int]] = []
    for i in sorted(ids):
        if runs and runs[-1][1] == i - 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs


def _range_entries(ids: set[int]) -> str:
    runs = _runs(ids)
    out = _num(len(runs), 12)
    for start, end in runs:
        out += "0" + _num(start, 16) if start == end else "1" + _num(start, 16) + _num(end, 16)
    return out


def _vendors(ids: set[int]) -> str:
    """MaxVendorId, then the shorter of bitfield and range encoding."""
    top = max(ids, default=0)
    bitfield = "0" + _flags(ids, top)
    ranges = "1" + _range_entries(ids)
    return _num(top, 16) + (ranges if len(ranges) < len(bitfield) else bitfield)


def make_string(rng: random.Random) -> str:
    gvl = sorted(rng.sample(range(1, _GVL_MAX + 1), 950))
    consents = set(rng.sample(gvl, rng.choice((20, 80, 400, 900))))
    interests = set(rng.sample(gvl, rng.choice((10, 60, 250))))
    purposes = set(rng.sample(range(1, 12), rng.randrange(0, 12)))
    li = {p for p in (2, 7, 8, 9, 10, 11) if rng.random() < 0.6}
    created = 16_900_000_000 + rng.randrange(30_000_000)
    restrictions = [(rng.randrange(2, 11), rng.randrange(3),
                     set(rng.sample(gvl, rng.randrange(1, 40)))) for _ in range(rng.randrange(3))]
    core = (_num(2, 6) + _num(created, 36) + _num(created + rng.randrange(100_000), 36)
            + _num(rng.randrange(1, 400), 12) + _num(rng.randrange(1, 20), 12)
            + _num(rng.randrange(1, 5), 6) + _num(4, 6) + _num(13, 6)  # "EN"
            + _num(rng.randrange(40, 80), 12) + _num(5, 6) + "1" + "0"
            + _flags({1} if rng.random() < 0.4 else set(), 12)
            + _flags(purposes, 24) + _flags(li, 24) + "0" + _num(3, 6) + _num(4, 6)  # "DE"
            + _vendors(consents) + _vendors(interests) + _num(len(restrictions), 12))
    for purpose, kind, vendors in restrictions:
        core += _num(purpose, 6) + _num(kind, 2) + _range_entries(vendors)
    segments = [_b64(core), _b64("001" + _vendors(set(gvl)))]
    if rng.random() < 0.3:
        segments.append(_b64("011" + _flags({1, 3}, 24) + _flags({2}, 24) + _num(2, 6) + "10"
                             + "01"))
    return ".".join(segments)


def make_strings(count: int, seed: int = 20240501) -> list[str]:
    rng = random.Random(seed)
    return [make_string(rng) for _ in range(count)]


# --- agreement and timing ---------------------------------------------------------------


def _theirs_summary(consent: Any) -> tuple[int, list[int], list[int]]:
    purposes = sorted(p for p, on in consent.purposes_consent.items() if on)
    if consent.is_consent_range_encoding:
        vendors = sorted({v for start, end in consent.consented_vendors_range
                          for v in range(start, end + 1)})
    else:
        vendors = sorted(v for v, on in consent.consented_vendors.items() if on)
    return consent.cmp_id, purposes, vendors


def usable(strings: list[str]) -> tuple[list[str], int]:
    """The strings both decoders read alike; exits if ours rejects one or they disagree."""
    kept, skipped = [], 0
    for text in strings:
        try:
            ours = decode_tcf(text)
        except ConsentStringError as exc:
            sys.exit(f"our decoder rejected a benchmark string: {exc}")
        if iab_tcf is None:
            kept.append(text)
            continue
        try:
            theirs = iab_tcf.decode(text)
        except Exception:  # the package refuses some valid padding lengths
            skipped += 1
            continue
        mine = (ours.cmp_id, list(ours.purposes_consent), list(ours.vendor_consents))
        if mine != _theirs_summary(theirs):
            sys.exit("the decoders disagree on a benchmark string")
        kept.append(text)
    return kept, skipped


def _ours(strings: list[str]) -> None:
    for text in strings:
        decode_tcf(text)


def _theirs(strings: list[str]) -> None:
    decode = iab_tcf.decode
    for text in strings:
        decode(text)


def per_string_us(run: Callable[[list[str]], None], strings: list[str]) -> float:
    gc.collect()
    start = time.perf_counter_ns()
    run(strings)
    return (time.perf_counter_ns() - start) / len(strings) / 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--generated", type=int, default=2000,
                        help="generated strings (default 2000)")
    parser.add_argument("--repeat", type=int, default=7, help="repeats (default 7)")
    args = parser.parse_args(argv)
    if args.generated < 1 or args.repeat < 1:
        parser.error("--generated and --repeat must be at least 1")

    if iab_tcf is None:
        print("iab_tcf is not importable: run `pip install iab-tcf` to compare; "
              "measuring cdp_plugin only.")
    public = list(REFERENCE)
    if VECTORS.is_file():
        public = [v["string"] for v in json.loads(VECTORS.read_text())["tcf"]] + public
    groups: dict[str, list[str]] = {}
    skipped = 0
    for name, strings in (("public", public), ("generated", make_strings(args.generated))):
        groups[name], dropped = usable(strings)
        skipped += dropped
    groups["all"] = groups["public"] + groups["generated"]

    runs: dict[str, Callable[[list[str]], None]] = {"(a) cdp_plugin decode_tcf": _ours}
    if iab_tcf is not None:
        runs["(b) iab_tcf.decode"] = _theirs
    for run in runs.values():  # warm up before the first timed pass
        run(groups["all"][:500])
    samples: dict[tuple[str, str], list[float]] = {(g, label): [] for g in groups for label in runs}
    for _ in range(args.repeat):  # interleaved, so machine drift hits both alike
        for group, strings in groups.items():
            for label, run in runs.items():
                samples[(group, label)].append(per_string_us(run, strings))

    theirs_version = "not installed"
    with contextlib.suppress(PackageNotFoundError):
        theirs_version = version("iab-tcf")
    print(f"median of {args.repeat} repeats; Python {platform.python_version()}, "
          f"iab-tcf {theirs_version}")
    if skipped:
        print(f"{skipped} public string(s) skipped: iab_tcf could not read them")
    print(f"{'strings':<10} {'n':>5} {'variant':<28} {'us/string':>9} {'min':>8} {'max':>8}")
    for group, strings in groups.items():
        for label in runs:
            values = samples[(group, label)]
            print(f"{group:<10} {len(strings):>5} {label:<28} {statistics.median(values):>9.2f}"
                  f" {min(values):>8.2f} {max(values):>8.2f}")
        if iab_tcf is not None:
            ours = statistics.median(samples[(group, "(a) cdp_plugin decode_tcf")])
            theirs = statistics.median(samples[(group, "(b) iab_tcf.decode")])
            print(f"{group:<10} {'':>5} {'ratio (b)/(a)':<28} {theirs / ours:>9.2f}")
    if iab_tcf is not None:
        print("(a) also expands vendor ranges to sorted IDs and checks every read; "
              "(b) keeps ranges as pairs.")


if __name__ == "__main__":
    main()
