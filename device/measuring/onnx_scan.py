"""Read an ONNX file's bytes without running anything: metadata, and what must never be run.

The protobuf wire format is walked by hand (a few message types and fields of onnx.proto) so that
a hostile file is refused before onnxruntime sees it, at a cost of milliseconds and without the
`onnx` package's import time. Refused here:
- tensors whose data lives outside the file (data_location EXTERNAL or external_data entries):
  onnxruntime would read them relative to the working directory, outside the hashed and signed
  bytes;
- control flow (Loop, Scan, If): a counting network never needs it, and a Loop can run for ever;
- metadata that is not UTF-8, repeated keys, or more than MAX_METADATA_BYTES in all.
"""

from __future__ import annotations

from collections.abc import Iterator

from device.core.errors import ModelError

MAX_METADATA_BYTES = 256 * 1024
CONTROL_FLOW = frozenset({"Loop", "Scan", "If"})
_MAX_MESSAGES = 1_000_000  # nested messages walked; a real counting model has a few thousand

# Field numbers from onnx.proto (onnx/onnx.proto, IR version 10).
MODEL_GRAPH, MODEL_METADATA, MODEL_TRAINING, MODEL_FUNCTIONS = 7, 14, 20, 25
GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_SPARSE_INITIALIZER = 1, 5, 15
NODE_OP_TYPE, NODE_ATTRIBUTE = 4, 5
ATTR_T, ATTR_G, ATTR_TENSORS, ATTR_GRAPHS, ATTR_SPARSE, ATTR_SPARSES = 5, 6, 10, 11, 22, 23
SPARSE_VALUES, SPARSE_INDICES = 1, 2
TENSOR_NAME, TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION = 8, 13, 14
TRAINING_GRAPHS = (1, 2)  # TrainingInfoProto.initialization, .algorithm
FUNCTION_NODE = 7
EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL


class _Malformed(Exception):
    pass


def _varint(buf: memoryview, i: int) -> tuple[int, int]:
    val = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise _Malformed("truncated varint")
        b = buf[i]
        i += 1
        val |= (b & 0x7F) << shift
        if b < 0x80:
            return val, i
        shift += 7


def fields(buf: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of one message: ints for varints, views for bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if num == 0:
            raise _Malformed("field number 0")
        if wire == 0:
            val, i = _varint(buf, i)
            yield num, wire, val
        elif wire == 2:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise _Malformed("length past the end")
            yield num, wire, buf[i : i + n]
            i += n
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
            if i > len(buf):
                raise _Malformed("truncated fixed field")
        else:  # groups (3, 4) are not used by onnx.proto
            raise _Malformed(f"wire type {wire}")


def byte_fields(buf: memoryview) -> Iterator[tuple[int, memoryview]]:
    """(field number, bytes) of the length-delimited fields of one message: strings and
    submessages, the only fields the scan looks into (every field is still parsed)."""
    for num, wire, val in fields(buf):
        if wire == 2:
            assert isinstance(val, memoryview)
            yield num, val


def _submessages(buf: memoryview, wanted: int | tuple[int, ...]) -> Iterator[memoryview]:
    nums = (wanted,) if isinstance(wanted, int) else wanted
    return (val for num, val in byte_fields(buf) if num in nums)


def _text(val: memoryview, what: str) -> str:
    try:
        return bytes(val).decode("utf-8")
    except UnicodeDecodeError:
        raise _Malformed(f"{what} is not UTF-8") from None


class _Walk:
    def __init__(self, where: str) -> None:
        self.where = where
        self.messages = 0

    def _count(self) -> None:
        self.messages += 1
        if self.messages > _MAX_MESSAGES:
            raise ModelError(f"{self.where}: more than {_MAX_MESSAGES} ONNX messages")

    def tensor(self, buf: memoryview) -> None:
        self._count()
        name = ""
        external = False
        for num, wire, val in fields(buf):
            if num == TENSOR_NAME and wire == 2:
                assert isinstance(val, memoryview)
                name = bytes(val[:80]).decode("utf-8", "replace")
            elif num == TENSOR_EXTERNAL_DATA and wire == 2:
                external = True
            elif num == TENSOR_DATA_LOCATION and wire == 0 and val == EXTERNAL:
                external = True
        if external:
            raise ModelError(
                f"{self.where}: tensor {name!r} keeps its data in an external file "
                "(a model must be one self-contained .onnx file)"
            )

    def sparse(self, buf: memoryview) -> None:
        for t in _submessages(buf, (SPARSE_VALUES, SPARSE_INDICES)):
            self.tensor(t)

    def node(self, buf: memoryview, graphs: list[memoryview]) -> None:
        self._count()
        for num, val in byte_fields(buf):
            if num == NODE_OP_TYPE:
                op = _text(val, "op_type")
                if op in CONTROL_FLOW:
                    raise ModelError(
                        f"{self.where}: operator {op[:40]!r} (control flow is not "
                        "allowed in a counting model: it can run for ever)"
                    )
            elif num == NODE_ATTRIBUTE:
                for anum, aval in byte_fields(val):
                    if anum in (ATTR_T, ATTR_TENSORS):
                        self.tensor(aval)
                    elif anum in (ATTR_SPARSE, ATTR_SPARSES):
                        self.sparse(aval)
                    elif anum in (ATTR_G, ATTR_GRAPHS):
                        graphs.append(aval)

    def graphs(self, todo: list[memoryview]) -> None:
        # A work list, not recursion: nesting depth is the file's choice.
        while todo:
            g = todo.pop()
            self._count()
            for num, val in byte_fields(g):
                if num == GRAPH_NODE:
                    self.node(val, todo)
                elif num == GRAPH_INITIALIZER:
                    self.tensor(val)
                elif num == GRAPH_SPARSE_INITIALIZER:
                    self.sparse(val)


def scan(data: bytes, where: str) -> dict[str, str]:
    """Check the file's structure (see the module docstring) and return its metadata_props.

    ModelError names the file (`where`) and what is wrong; nothing of the model runs.
    """
    walk = _Walk(where)
    meta: dict[str, str] = {}
    total = 0
    todo: list[memoryview] = []
    has_graph = False
    try:
        for num, val in byte_fields(memoryview(data)):
            if num == MODEL_METADATA:
                total += len(val)
                entry = dict(byte_fields(val))
                key = _text(entry.get(1, memoryview(b"")), "a metadata key")
                if total > MAX_METADATA_BYTES:
                    raise ModelError(
                        f"{where}: metadata {key[:60]!r} is {len(entry.get(2, b''))} bytes; all "
                        f"metadata together must stay under {MAX_METADATA_BYTES // 1024} KiB"
                    )
                if key in meta:
                    raise ModelError(f"{where}: metadata {key[:60]!r} is given twice")
                meta[key] = _text(entry.get(2, memoryview(b"")), f"metadata {key[:60]!r}")
            elif num == MODEL_GRAPH:
                has_graph = True
                todo.append(val)
            elif num == MODEL_TRAINING:
                todo.extend(_submessages(val, TRAINING_GRAPHS))
            elif num == MODEL_FUNCTIONS:
                for n in _submessages(val, FUNCTION_NODE):
                    walk.node(n, todo)
        walk.graphs(todo)
    except _Malformed as e:
        raise ModelError(f"{where}: not a loadable ONNX model (protobuf: {e})") from None
    if not has_graph:
        raise ModelError(f"{where}: not a loadable ONNX model (no graph)")
    return meta
