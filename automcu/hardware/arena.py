"""TFLite Micro's greedy memory planner (``GreedyMemoryPlanner``), re-implemented for estimation.

Each non-constant tensor (and each kernel scratch buffer) needs ``size`` bytes from the op that
first writes it to the op that last reads it (the graph input is live from op 0, the output until
the last op). Buffers are sorted by size, largest first, equal sizes by the *higher* ``rank`` first
(the tensor's index in the ``.tflite``; scratch buffers come after all tensors),
and each is placed at the lowest offset where it overlaps no already-placed buffer whose lifetime
intersects its own. The arena "head" is the highest end offset; the planner aligns every size to
16 bytes (``kBufferAlignment``).
"""

from __future__ import annotations

from dataclasses import dataclass

ALIGN = 16


def align(n: int, a: int = ALIGN) -> int:
    return (n + a - 1) // a * a


@dataclass(frozen=True)
class Buffer:
    size: int
    first: int  # first op index that needs it
    last: int  # last op index that needs it
    label: str = ""
    rank: int = 0  # tensor index in the model (scratch buffers: after every tensor); ties go higher first


def plan(buffers: list[Buffer]) -> tuple[int, list[int]]:
    """Greedy placement; returns (head bytes, offset of each buffer)."""
    # Largest first; among equal sizes the higher tensor index first. This tie order reproduces the
    # head that the real TFLM planner reported on every exported NB201 model we measured (64/64 in
    # benchmarks/results/tflm_measured.json; plain tensor order did not).
    order = sorted(range(len(buffers)), key=lambda i: (-align(buffers[i].size), -buffers[i].rank))
    offsets = [0] * len(buffers)
    placed: list[int] = []
    head = 0
    for i in order:
        b = buffers[i]
        size = align(b.size)
        if size == 0:
            continue
        busy = sorted(
            (offsets[j], offsets[j] + align(buffers[j].size))
            for j in placed
            if buffers[j].first <= b.last and b.first <= buffers[j].last
        )
        offset = 0
        for start, end in busy:
            if start - offset >= size:
                break
            offset = max(offset, end)
        offsets[i] = offset
        placed.append(i)
        head = max(head, offset + size)
    return head, offsets


def live_bytes_at(buffers: list[Buffer], step: int) -> int:
    return sum(align(b.size) for b in buffers if b.first <= step <= b.last)
