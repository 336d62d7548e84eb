"""A minimal, bounds-checked reader of FlatBuffers tables (no generated code).

Enough of the FlatBuffers binary format to walk a ``.tflite`` file's
``Model`` table to its metadata entries: tables (through their vtables),
scalars, strings, vectors of bytes, of scalars and of tables. Every offset
is checked against the buffer, so a truncated or foreign file raises
``ValueError`` instead of reading garbage.
"""

import struct


class Table:
    """One table of a flatbuffer: ``data`` (bytes) and the table's position."""

    __slots__ = ("data", "pos", "_vtable", "_vtable_size")

    def __init__(self, data, pos):
        self.data = data
        self.pos = pos
        soffset = _unpack("<i", data, pos)
        self._vtable = pos - soffset
        self._vtable_size = _unpack("<H", data, self._vtable)
        if self._vtable_size < 4 or self._vtable_size % 2:
            raise ValueError(f"bad flatbuffer vtable at byte {self._vtable}")
        _check(data, self._vtable, self._vtable_size)

    def _field(self, index):
        """The position of field ``index``, or None when it is absent (default)."""
        entry = 4 + 2 * index
        if entry + 2 > self._vtable_size:
            return None
        offset = _unpack("<H", self.data, self._vtable + entry)
        return self.pos + offset if offset else None

    def scalar(self, index, fmt, default=0):
        pos = self._field(index)
        return default if pos is None else _unpack("<" + fmt, self.data, pos)

    def _target(self, index):
        pos = self._field(index)
        if pos is None:
            return None
        return pos + _unpack("<I", self.data, pos)

    def table(self, index):
        target = self._target(index)
        return None if target is None else Table(self.data, target)

    def bytes(self, index):
        """A ``[ubyte]`` vector or a string as bytes (None when absent)."""
        target = self._target(index)
        if target is None:
            return None
        length = _unpack("<I", self.data, target)
        _check(self.data, target + 4, length)
        return bytes(self.data[target + 4 : target + 4 + length])

    def string(self, index):
        raw = self.bytes(index)
        return None if raw is None else raw.decode("utf-8", errors="replace")

    def vector_length(self, index):
        target = self._target(index)
        return 0 if target is None else _unpack("<I", self.data, target)

    def tables(self, index):
        """The tables of a vector of tables, in order."""
        target = self._target(index)
        if target is None:
            return []
        length = _unpack("<I", self.data, target)
        _check(self.data, target + 4, 4 * length)
        result = []
        for i in range(length):
            element = target + 4 + 4 * i
            result.append(Table(self.data, element + _unpack("<I", self.data, element)))
        return result

    def scalars(self, index, fmt):
        target = self._target(index)
        if target is None:
            return []
        length = _unpack("<I", self.data, target)
        size = struct.calcsize("<" + fmt)
        _check(self.data, target + 4, size * length)
        return list(struct.unpack_from(f"<{length}{fmt}", self.data, target + 4))


def root(data, identifier=None):
    """The root table of flatbuffer ``data``; checks its 4-byte file identifier if given."""
    if len(data) < 8:
        raise ValueError(f"{len(data)} bytes are too few for a flatbuffer")
    if identifier is not None and bytes(data[4:8]) != identifier:
        raise ValueError(f"no {identifier.decode()} file identifier")
    return Table(data, _unpack("<I", data, 0))


def _check(data, pos, size):
    if pos < 0 or size < 0 or pos + size > len(data):
        raise ValueError(
            f"the flatbuffer points past its end (byte {pos} + {size} of {len(data)}): "
            "the file is truncated or damaged"
        )


def _unpack(fmt, data, pos):
    _check(data, pos, struct.calcsize(fmt))
    return struct.unpack_from(fmt, data, pos)[0]
