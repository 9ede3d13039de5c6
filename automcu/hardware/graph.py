"""The int8 op graph that TFLite Micro runs for an NB201 network.

Built to match what the float→int8 export path (litert-torch → ai-edge-quantizer) actually emits,
as measured on exported models (see ``/work/shared/reference/tflite_export/README.md``):

* BatchNorm after a conv is folded into that conv (int8 weights + int32 bias per output channel);
  ReLU is a separate ``RELU`` op unless its input tensor has no other consumer, then it is fused
  into the producing op (CONV_2D / ADD / ...). Identical ops on identical inputs are shared (the
  converter's CSE): ``relu(x0)`` feeding two conv edges runs once, ``pool(x0)`` reached twice runs once.
* skip = identity (no op); a node with several inputs is a chain of binary ``ADD`` ops in edge
  order; ``none`` edges vanish, and edges that never reach the cell output are removed (dead code).
* stride-2 conv with padding 1 → ``PAD`` + ``CONV_2D`` (valid); a stem conv on one input channel →
  ``DEPTHWISE_CONV_2D``; the final standalone BN → ``SUB``/``MUL``/``MUL``/``ADD`` (ReLU fused);
  global average pool → ``MEAN``; classifier → ``FULLY_CONNECTED``.
* ResNet reduction block: ``AVERAGE_POOL_2D`` 2×2 → ``CONV_2D`` 1×1 (shortcut, gets a bias) then
  ``RELU`` → ``PAD`` → ``CONV_2D`` 3×3/2 (ReLU fused) → ``CONV_2D`` 3×3 → ``ADD``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from search_spaces.nb201.space import CONV3, EDGES, NONE, POOL, SKIP, Arch

#: ops whose fused_activation_function can absorb a following RELU
FUSABLE = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "SUB", "MUL", "FULLY_CONNECTED"})


@dataclass
class Tensor:
    id: int
    shape: tuple[int, ...]  # NHWC without N, or (features,)
    nbytes: int
    producer: int | None = None  # op index; None = graph input
    consumers: list[int] = field(default_factory=list)


@dataclass
class Op:
    kind: str  # TFLite builtin name
    name: str  # where in the network: "stage2.cell3.node2.nor_conv_3x3<-0"
    inputs: list[int]  # activation tensor ids
    output: int
    macs: int = 0
    weights: int = 0  # int8 weight values
    biases: int = 0  # int32 bias values
    const_bytes: int = 0  # other constants (PAD paddings, MEAN axis, BN vectors)
    quant_channels: int = 0  # per-channel quantization entries (weights + bias tensors)
    kernel: int = 0
    stride: int = 1
    cin: int = 0
    cout: int = 0
    fused_relu: bool = False
    stage: int = 0  # 0 stem, 1..3 stages (reductions belong to the stage they produce), 4 head
    part: str = "cell"  # stem | cell | reduction | head


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    input_id: int
    output_id: int
    shared_consts: int = 0  # constant buffers shared by several ops (PAD paddings)

    def out_elems(self, op: Op) -> int:
        return self.tensors[op.output].nbytes

    def in_elems(self, op: Op) -> int:
        return self.tensors[op.inputs[0]].nbytes


class _Builder:
    def __init__(self) -> None:
        self.tensors: list[Tensor] = []
        self.ops: list[Op] = []
        self._cse: dict[tuple, int] = {}

    def tensor(self, shape: tuple[int, ...]) -> int:
        n = 1
        for d in shape:
            n *= d
        t = Tensor(id=len(self.tensors), shape=shape, nbytes=n)
        self.tensors.append(t)
        return t.id

    def op(self, kind: str, name: str, inputs: list[int], out_shape: tuple[int, ...], cse_key: tuple | None = None,
           **fields: object) -> int:
        if cse_key is not None and cse_key in self._cse:
            return self._cse[cse_key]
        out = self.tensor(out_shape)
        idx = len(self.ops)
        self.ops.append(Op(kind=kind, name=name, inputs=list(inputs), output=out, **fields))  # type: ignore[arg-type]
        self.tensors[out].producer = idx
        for i in inputs:
            self.tensors[i].consumers.append(idx)
        if cse_key is not None:
            self._cse[cse_key] = out
        return out

    def conv(self, name: str, x: int, cout: int, k: int, stride: int, stage: int, part: str) -> int:
        h, w, cin = self.tensors[x].shape
        if stride == 1:
            ho, wo = h, w  # SAME padding, no PAD op
        else:
            ho, wo = (h - k) // stride + 1, (w - k) // stride + 1  # x is already padded
        depthwise = cin == 1 and part == "stem"
        return self.op(
            "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", name, [x], (ho, wo, cout),
            macs=ho * wo * cout * k * k * cin, weights=cout * k * k * cin, biases=cout,
            quant_channels=2 * cout, kernel=k, stride=stride, cin=cin, cout=cout, stage=stage, part=part,
        )

    def unary(self, kind: str, name: str, x: int, stage: int, part: str, **fields: object) -> int:
        return self.op(kind, name, [x], self.tensors[x].shape, cse_key=(kind, x), stage=stage, part=part, **fields)

    def add(self, name: str, a: int, b: int, stage: int, part: str) -> int:
        return self.op("ADD", name, [a, b], self.tensors[a].shape, cse_key=("ADD", a, b), stage=stage, part=part)

    def pool(self, name: str, x: int, k: int, stride: int, stage: int, part: str) -> int:
        h, w, c = self.tensors[x].shape
        shape = (h, w, c) if stride == 1 else (h // stride, w // stride, c)
        return self.op("AVERAGE_POOL_2D", name, [x], shape, cse_key=("POOL", k, stride, x), kernel=k, stride=stride,
                       cin=c, cout=c, stage=stage, part=part)


def cell_edges(arch: Arch) -> list[tuple[int, int, int]]:
    """(to, from, op) of the edges the deployed cell computes: live ones, in official order."""
    live = arch.live_edges()
    return [(to, src, op) for (to, src), op, ok in zip(EDGES, arch.ops, live, strict=True) if ok and op != NONE]


def _cell(b: _Builder, arch: Arch, x0: int, stage: int, cell: int) -> int | None:
    nodes: list[int | None] = [x0, None, None, None]
    edges = cell_edges(arch)
    c = b.tensors[x0].shape[2]
    for to in (1, 2, 3):
        acc: int | None = None
        for e_to, src, op in edges:
            if e_to != to:
                continue
            x = nodes[src]
            if x is None:  # only live edges are kept, so a live source is never empty
                raise AssertionError("live edge from an empty node")
            where = f"stage{stage}.cell{cell}.node{to}"
            if op == SKIP:
                val = x
            elif op == POOL:
                val = b.pool(f"{where}.avg_pool_3x3<-{src}", x, 3, 1, stage, "cell")
            else:
                k = 3 if op == CONV3 else 1
                r = b.unary("RELU", f"{where}.relu<-{src}", x, stage, "cell")
                val = b.conv(f"{where}.nor_conv_{k}x{k}<-{src}", r, c, k, 1, stage, "cell")
            acc = val if acc is None else b.add(f"{where}.add", acc, val, stage, "cell")
        nodes[to] = acc
    return nodes[3]


def _reduction(b: _Builder, x: int, stage: int) -> int:
    h, w, cin = b.tensors[x].shape
    cout = 2 * cin
    name = f"stage{stage}.reduction"
    p = b.pool(f"{name}.shortcut.avg_pool_2x2", x, 2, 2, stage, "reduction")
    sc = b.conv(f"{name}.shortcut.conv_1x1", p, cout, 1, 1, stage, "reduction")
    r = b.unary("RELU", f"{name}.conv_a.relu", x, stage, "reduction")
    padded = b.op("PAD", f"{name}.conv_a.pad", [r], (h + 2, w + 2, cin), stage=stage, part="reduction")
    a = b.conv(f"{name}.conv_a.conv_3x3_s2", padded, cout, 3, 2, stage, "reduction")
    r2 = b.unary("RELU", f"{name}.conv_b.relu", a, stage, "reduction")
    conv_b = b.conv(f"{name}.conv_b.conv_3x3", r2, cout, 3, 1, stage, "reduction")
    return b.add(f"{name}.add", sc, conv_b, stage, "reduction")


def _fuse_relus(b: _Builder, output_id: int) -> None:
    """Fold RELU into its producer when the producer's output has no other consumer."""
    for op in b.ops:
        if op.kind != "RELU":
            continue
        src = b.tensors[op.inputs[0]]
        if src.producer is None or src.id == output_id:
            continue
        prod = b.ops[src.producer]
        if prod.kind in FUSABLE and not prod.fused_relu and src.consumers == [b.ops.index(op)]:
            op.kind = "FUSED"  # marker, removed below
            prod.fused_relu = True
    _rebuild(b, keep=[op.kind != "FUSED" for op in b.ops])


def _rebuild(b: _Builder, keep: list[bool]) -> None:
    """Drop ops (fused RELUs), rewiring consumers of their outputs to the ops' inputs."""
    alias: dict[int, int] = {}
    for op, k in zip(b.ops, keep, strict=True):
        if not k:
            alias[op.output] = alias.get(op.inputs[0], op.inputs[0])
    ops = [op for op, k in zip(b.ops, keep, strict=True) if k]
    for op in ops:
        op.inputs = [alias.get(i, i) for i in op.inputs]
    for t in b.tensors:
        t.consumers = []
        t.producer = None
    for idx, op in enumerate(ops):
        b.tensors[op.output].producer = idx
        for i in op.inputs:
            b.tensors[i].consumers.append(idx)
    b.ops = ops


def _dead_tensors(b: _Builder, input_id: int) -> None:
    """Renumber tensors so only those used remain (ids in creation order)."""
    used = {input_id} | {op.output for op in b.ops} | {i for op in b.ops for i in op.inputs}
    remap = {old: new for new, old in enumerate(sorted(used))}
    tensors = []
    for old in sorted(used):
        t = b.tensors[old]
        t.id = remap[old]
        t.consumers = []
        t.producer = None
        tensors.append(t)
    b.tensors = tensors
    for idx, op in enumerate(b.ops):
        op.inputs = [remap[i] for i in op.inputs]
        op.output = remap[op.output]
        b.tensors[op.output].producer = idx
        for i in op.inputs:
            b.tensors[i].consumers.append(idx)


def build_graph(arch: Arch, C: int, N: int, in_ch: int, hw: int, classes: int) -> Graph:
    """The deployed int8 op graph of the NB201 network with this cell and macro-architecture.

    A cell whose output node is not connected to its input makes the whole network constant;
    the converter folds it away, so such a graph keeps only the final FC on a constant.
    """
    b = _Builder()
    x = b.tensor((hw, hw, in_ch))
    input_id = x
    if not arch.output_connected:
        # network output does not depend on the input: everything folds to constants
        feat = b.tensor((C * 4,))
        out = b.op("FULLY_CONNECTED", "head.classifier(constant input)", [feat], (classes,), macs=C * 4 * classes,
                   weights=C * 4 * classes, biases=classes, quant_channels=2, stage=4, part="head")
        b.tensors[feat].nbytes = C * 4
        return Graph(tensors=b.tensors, ops=b.ops, input_id=input_id, output_id=out)
    x = b.conv("stem.conv_3x3", x, C, 3, 1, 0, "stem")
    c = C
    for stage in (1, 2, 3):
        if stage > 1:
            x = _reduction(b, x, stage)
            c *= 2
        for cell in range(N):
            y = _cell(b, arch, x, stage, cell)
            assert y is not None
            x = y
    name = "head.lastact_bn"
    last = b.tensors[x].producer
    if last is not None and b.ops[last].kind == "CONV_2D" and not b.tensors[x].consumers:
        # the cell output is a conv output: the final BN folds into that conv, its ReLU fuses
        b.ops[last].fused_relu = True
        bn_ops: tuple[tuple[str, str], ...] = ()
    else:
        bn_ops = (("SUB", "mean"), ("MUL", "scale"), ("MUL", "gamma"), ("ADD", "beta"))
    for kind, part in bn_ops:
        x = b.op(kind, f"{name}.{kind.lower()}_{part}", [x], b.tensors[x].shape, stage=4, part="head",
                 const_bytes=c)
    if bn_ops:
        b.ops[-1].fused_relu = True  # lastact ReLU fused into the BN's final ADD
    h = b.tensors[x].shape[0]
    x = b.op("MEAN", "head.global_avg_pool", [x], (c,), const_bytes=8, cin=c, cout=c, kernel=h, stage=4, part="head")
    out = b.op("FULLY_CONNECTED", "head.classifier", [x], (classes,), macs=c * classes, weights=c * classes,
               biases=classes, quant_channels=2, cin=c, cout=classes, stage=4, part="head")
    _fuse_relus(b, out)
    _dead_tensors(b, input_id)
    output_id = b.ops[-1].output
    pads = sum(1 for op in b.ops if op.kind == "PAD")
    return Graph(tensors=b.tensors, ops=b.ops, input_id=0, output_id=output_id, shared_consts=32 if pads else 0)
