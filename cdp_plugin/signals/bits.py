"""Bit-level reading shared by the consent-string decoders.

IAB strings pack fixed-width fields into base64url text, six bits a character.
The text is turned into a string of '0'/'1' characters once; each field is then
a slice of it. Every read checks the bits it needs are there, so a short or
corrupt string ends in :class:`ConsentStringError`, never in ``IndexError`` or
a wrong value.
"""

from __future__ import annotations

from itertools import compress

from cdp_plugin.errors import CdpPluginError

#: Longest input accepted, in characters (or bytes). Real strings are a few
#: hundred characters; the cap bounds the work a hostile input can cause.
MAX_INPUT_CHARS = 65536

# Longest Fibonacci code word read (terminator included). Section IDs and their
# offsets are small; the cap keeps one code word from scanning a whole string.
MAX_FIBONACCI_BITS = 32

_URLSAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Both base64 alphabets: '+' and '/' are what a standard encoder writes for 62, 63.
_SEXTETS: dict[int, str] = {ord(c): format(i, "06b") for i, c in enumerate(_URLSAFE)}
_SEXTETS[ord("+")] = _SEXTETS[ord("-")]
_SEXTETS[ord("/")] = _SEXTETS[ord("_")]


_BIT_BYTES = bytes.maketrans(b"01", b"\x00\x01")


class ConsentStringError(CdpPluginError, ValueError):
    """A consent string could not be decoded.

    The message names the part that failed (segment, section, field) and what
    is wrong with it; it never repeats the input or a decoded value.
    """


def as_text(value: object, what: str) -> str:
    """Return ``value`` as a ``str`` of at most :data:`MAX_INPUT_CHARS` characters.

    Accepts ``str`` or ASCII ``bytes``. Raises :class:`ConsentStringError` for any
    other type, non-ASCII bytes, an empty value or one over the length cap.
    """
    if isinstance(value, bytes | bytearray):
        if len(value) > MAX_INPUT_CHARS:
            raise ConsentStringError(f"{what}: longer than {MAX_INPUT_CHARS} bytes")
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise ConsentStringError(f"{what}: not ASCII text") from None
    if not isinstance(value, str):
        raise ConsentStringError(f"{what}: expected text, got {type(value).__name__}")
    if len(value) > MAX_INPUT_CHARS:
        raise ConsentStringError(f"{what}: longer than {MAX_INPUT_CHARS} characters")
    if not value:
        raise ConsentStringError(f"{what}: empty")
    return value


def base64url_bits(text: str, where: str) -> str:
    """Decode one base64url segment to a string of '0'/'1', six bits a character.

    Up to two trailing '=' are ignored, and the standard alphabet's '+' and '/'
    are read as '-' and '_'. The bit count is always six times the character
    count: encoders pad with zero bits, and readers check what they need.
    Raises :class:`ConsentStringError` naming ``where`` for an empty segment or
    a character outside both alphabets.
    """
    stripped = text[:-2] + text[-2:].rstrip("=") if text.endswith("=") else text
    if not stripped:
        raise ConsentStringError(f"{where}: empty")
    bits = stripped.translate(_SEXTETS)
    # Unmapped characters survive translate() as one character each, so any
    # shortfall from six per character means a character outside the alphabet.
    if len(bits) != 6 * len(stripped):
        raise ConsentStringError(f"{where}: not base64url (character outside the alphabet)")
    return bits


class BitReader:
    """Sequential reader over a '0'/'1' string, with bounds checked on every read.

    ``where`` names the segment or section in error messages, e.g.
    ``"core segment"``; each read names its field.
    """

    __slots__ = ("_bits", "_pos", "where")

    def __init__(self, bits: str, where: str) -> None:
        self._bits = bits
        self._pos = 0
        self.where = where

    @property
    def remaining(self) -> int:
        """Bits not read yet."""
        return len(self._bits) - self._pos

    def error(self, field: str, problem: str) -> ConsentStringError:
        """An error naming this reader's segment, the field and the problem."""
        return ConsentStringError(f"{self.where}: {field}: {problem}")

    def _take(self, width: int, field: str) -> str:
        end = self._pos + width
        if end > len(self._bits):
            raise self.error(field, f"truncated (needs {width} bits, {self.remaining} left)")
        chunk = self._bits[self._pos:end]
        self._pos = end
        return chunk

    def read_int(self, width: int, field: str) -> int:
        """An unsigned big-endian integer of ``width`` bits."""
        return int(self._take(width, field), 2)

    def read_bool(self, field: str) -> bool:
        """One bit as a boolean."""
        return self._take(1, field) == "1"

    def read_bitfield(self, width: int, field: str) -> tuple[int, ...]:
        """The 1-based positions of the set bits among the next ``width`` bits."""
        if width == 0:
            return ()
        # As bytes 0/1, the chunk is a selector mask compress() walks in C.
        mask = self._take(width, field).encode("ascii").translate(_BIT_BYTES)
        return tuple(compress(range(1, width + 1), mask))

    def read_id_ranges(self, count: int, field: str) -> list[tuple[int, int]]:
        """``count`` TCF range entries: IsARange (1 bit), a 16-bit start, and for a
        range a 16-bit end; a single ID comes back as (id, id). Unvalidated."""
        # The hot loop of long vendor lists: slices read directly, bounds checked.
        bits, pos, size = self._bits, self._pos, len(self._bits)
        spans = []
        for _ in range(count):
            if pos + 17 > size:
                raise self.error(f"{field}.start_or_only_vendor_id", "truncated")
            start = int(bits[pos + 1:pos + 17], 2)
            if bits[pos] == "1":
                if pos + 33 > size:
                    raise self.error(f"{field}.end_vendor_id", "truncated")
                spans.append((start, int(bits[pos + 17:pos + 33], 2)))
                pos += 33
            else:
                spans.append((start, start))
                pos += 17
        self._pos = pos
        return spans

    def read_flags(self, count: int, width: int, field: str) -> tuple[int, ...]:
        """``count`` consecutive unsigned integers of ``width`` bits each."""
        chunk = self._take(count * width, field)
        return tuple(int(chunk[i:i + width], 2) for i in range(0, count * width, width))

    def read_letters(self, count: int, field: str) -> str:
        """``count`` six-bit letters, 0 = 'A' .. 25 = 'Z' (language and country codes)."""
        letters = []
        for _ in range(count):
            value = self.read_int(6, field)
            if value > 25:
                raise self.error(field, "not a letter A-Z")
            letters.append(chr(ord("A") + value))
        return "".join(letters)

    def read_fibonacci(self, field: str) -> int:
        """A Fibonacci-coded positive integer (Zeckendorf bits, low first, ended by '11')."""
        start = self._pos
        limit = min(len(self._bits), start + MAX_FIBONACCI_BITS)
        stop = self._bits.find("11", start, limit)
        if stop < 0:
            if limit == len(self._bits):
                raise self.error(field, "truncated (Fibonacci integer has no terminator)")
            raise self.error(field, f"Fibonacci integer longer than {MAX_FIBONACCI_BITS} bits")
        value, low, high = 0, 1, 2
        for bit in self._bits[start:stop + 1]:
            if bit == "1":
                value += low
            low, high = high, low + high
        self._pos = stop + 2
        return value

    def expect_padding(self, field: str = "padding") -> None:
        """Check the unread bits are zero padding, as encoders write; else trailing data."""
        if "1" in self._bits[self._pos:]:
            raise self.error(field, "unexpected trailing data after the last field")
        self._pos = len(self._bits)


class IdBudget:
    """Caps the IDs a decode may expand from ranges, so a short hostile string
    cannot make a huge list (4095 restrictions x 65535 vendors, say)."""

    __slots__ = ("left",)

    def __init__(self, limit: int) -> None:
        self.left = limit

    def take(self, count: int, reader: BitReader, field: str) -> None:
        """Spend ``count``; raise :class:`ConsentStringError` once the cap is passed."""
        self.left -= count
        if self.left < 0:
            raise reader.error(field, "expands to more IDs than a consent string may carry")
