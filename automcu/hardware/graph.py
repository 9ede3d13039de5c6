"""The int8 op graph that TFLite Micro runs for an NB201 network.

Built to match what the float→int8 export path (litert-torch → ai-edge-quantizer) actually emits;
``tests/test_estimator.py`` checks ops, order, shapes, tensor lifetimes and the planner head against
all 64 models recorded in ``benchmarks/results/tflm_measured.json``:

* ops are created in the torch model's evaluation order (``search_spaces.nb201.torch_model``).
* BatchNorm after a conv is folded into that conv (int8 weights + int32 bias per output channel).
  A ``RELU`` is fused into the op producing its input (``FUSABLE``: CONV_2D, ADD, AVERAGE_POOL_2D, ...)
  when nothing else reads that tensor, and the fused op then *runs where the RELU was* (the rewrite
  is rooted at the RELU): a conv edge's output whose ReLU is first needed by a later node moves there.
* identical ops on identical inputs are shared (the converter's CSE; ``ADD`` is commutative):
  ``relu(x0)`` feeding two conv edges runs once, ``pool(x0)`` reached twice runs once,
  ``x0 + pool(x0)`` and ``pool(x0) + x0`` are one ADD.
* skip = identity (no op); a node with several inputs is a chain of binary ``ADD`` ops in edge
  order; ``none`` edges vanish, edges whose node never reaches the cell output are removed.
  Nodes that do not depend on the cell input are constants (see :func:`_cell`): one ``ADD`` of a
  per-channel constant, folded into the bias of a conv that produced the other operand.
* stride-2 conv with padding 1 → ``PAD`` + ``CONV_2D`` (valid); a stem conv on one input channel →
  ``DEPTHWISE_CONV_2D``; the final standalone BN → ``SUB``/``MUL``/``MUL``/``ADD`` (ReLU fused), or
  folded into the last conv when the cell output is one; global average pool → ``MEAN``;
  classifier → ``FULLY_CONNECTED``.
* ResNet reduction block: ``AVERAGE_POOL_2D`` 2×2 → ``CONV_2D`` 1×1 (shortcut, gets a bias) then
  ``RELU`` → ``PAD`` → ``CONV_2D`` 3×3/2 (ReLU fused) → ``CONV_2D`` 3×3 → ``ADD``.
* tensors are numbered like the ``.tflite``: input, then op outputs in execution order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from search_spaces.mcu.space import DWSEP, MCUArch
from search_spaces.nb201.space import CONV3, EDGES, NONE, POOL, SKIP, Arch

#: ops whose fused_activation_function can absorb a following RELU
FUSABLE = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "SUB", "MUL", "FULLY_CONNECTED", "AVERAGE_POOL_2D"})
CONVS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D"})


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
    const_kind: str | None = None  # ADD of a constant (single activation input): "channel" vector or "map"
    unpack_scratch: int = 0  # arena scratch while it runs: 4-bit weights unpacked to int8 (mixed precision)


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
    """Ops and tensors in the torch model's evaluation order, with the converter's CSE."""

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

    def depthwise(self, name: str, x: int, k: int, stage: int, part: str) -> int:
        """A depthwise k×k conv, stride 1, SAME padding (channel multiplier 1)."""
        h, w, c = self.tensors[x].shape
        return self.op(
            "DEPTHWISE_CONV_2D", name, [x], (h, w, c), macs=h * w * c * k * k, weights=c * k * k, biases=c,
            quant_channels=2 * c, kernel=k, stride=1, cin=c, cout=c, stage=stage, part=part,
        )

    def unary(self, kind: str, name: str, x: int, stage: int, part: str, **fields: object) -> int:
        return self.op(kind, name, [x], self.tensors[x].shape, cse_key=(kind, x), stage=stage, part=part, **fields)

    def add(self, name: str, a: int, b: int, stage: int, part: str) -> int:
        key = ("ADD", min(a, b), max(a, b))  # the converter's CSE treats ADD as commutative
        return self.op("ADD", name, [a, b], self.tensors[a].shape, cse_key=key, stage=stage, part=part)

    def pool(self, name: str, x: int, k: int, stride: int, stage: int, part: str) -> int:
        h, w, c = self.tensors[x].shape
        shape = (h, w, c) if stride == 1 else (h // stride, w // stride, c)
        return self.op("AVERAGE_POOL_2D", name, [x], shape, cse_key=("POOL", k, stride, x), kernel=k, stride=stride,
                       cin=c, cout=c, stage=stage, part=part)


GraphBuilder = _Builder


def strided_conv3x3(b: _Builder, name: str, x: int, cout: int, stage: int, part: str) -> int:
    """Public name of :func:`_strided_conv3x3` (3×3/s2 with torch padding 1, as the converter emits it)."""
    return _strided_conv3x3(b, name, x, cout, stage, part)


def cell_edges(arch: Arch | MCUArch) -> list[tuple[int, int, int]]:
    """(to, from, op) of the edges the exported cell evaluates, in official order.

    As the torch model's forward: every non-``none`` edge whose target node reaches the cell output
    (edges from nodes that do not depend on the input give constants, see :func:`_cell`).
    """
    to_output = {3}
    for i in (2, 1):
        if any(op != NONE and to in to_output for (to, src), op in zip(EDGES, arch.ops, strict=True) if src == i):
            to_output.add(i)
    return [(to, src, op) for (to, src), op in zip(EDGES, arch.ops, strict=True) if op != NONE and to in to_output]


# a node of the cell: a feature map (tensor id), a per-channel constant, a constant feature map, or zero
_ZERO, _CHANNEL_CONST, _MAP_CONST = "zero", "channel", "map"


def _cell(b: _Builder, arch: Arch | MCUArch, x0: int, stage: int, cell: int) -> int | None:
    """Ops of one cell in the torch model's evaluation order (``search_spaces.nb201.torch_model.Cell``).

    A node that does not depend on the cell input is zero or a constant: a conv of zero is its BN's
    per-channel constant, skip/avg_pool keep zero or a uniform constant as it is, a 1×1 conv of a
    uniform constant is uniform, a 3×3 conv of a non-zero constant is a constant *map* (zero padding
    at the border). The converter folds all of that; what remains is one ``ADD`` of the constant to
    the node's input-dependent sum (a per-channel vector, or a whole map for the 3×3 case).
    An mcu-space cell may also carry ``dw_sep_conv_3x3`` (``DWSEP``): ``RELU`` → ``DEPTHWISE_CONV_2D``
    3×3 (the inner ReLU fused) → ``CONV_2D`` 1×1, costed like the convs; of a constant it behaves as a 3×3.
    """
    nodes: list[int | None] = [x0, None, None, None]
    consts: list[str | None] = [None, _ZERO, _ZERO, _ZERO]
    h, w, c = b.tensors[x0].shape
    edges = cell_edges(arch)
    for to in (1, 2, 3):
        acc: int | None = None
        const: str | None = None
        where = f"stage{stage}.cell{cell}.node{to}"
        for e_to, src, op in edges:
            if e_to != to:
                continue
            x = nodes[src]
            val: int | None = None
            cval: str | None = None
            if x is None:  # constant or zero source
                src_c = consts[src]
                if op in (SKIP, POOL):
                    cval = None if src_c == _ZERO else src_c
                elif src_c == _ZERO or (op not in (CONV3, DWSEP) and src_c == _CHANNEL_CONST):
                    cval = _CHANNEL_CONST  # the BN's per-channel constant
                else:
                    cval = _MAP_CONST
            elif op == SKIP:
                val = x
            elif op == POOL:
                val = b.pool(f"{where}.avg_pool_3x3<-{src}", x, 3, 1, stage, "cell")
            elif op == DWSEP:
                r = b.unary("RELU", f"{where}.relu<-{src}", x, stage, "cell")
                d = b.depthwise(f"{where}.dw_sep_conv_3x3<-{src}.depthwise", r, 3, stage, "cell")
                r2 = b.unary("RELU", f"{where}.dw_sep_conv_3x3<-{src}.relu", d, stage, "cell")
                val = b.conv(f"{where}.dw_sep_conv_3x3<-{src}.pointwise", r2, c, 1, 1, stage, "cell")
            else:
                k = 3 if op == CONV3 else 1
                r = b.unary("RELU", f"{where}.relu<-{src}", x, stage, "cell")
                val = b.conv(f"{where}.nor_conv_{k}x{k}<-{src}", r, c, k, 1, stage, "cell")
            if val is not None:
                acc = val if acc is None else b.add(f"{where}.add", acc, val, stage, "cell")
            if cval is not None:
                const = _MAP_CONST if _MAP_CONST in (const, cval) else cval
        if acc is not None and const is not None:
            nbytes = h * w * c if const == _MAP_CONST else c
            acc = b.op("ADD", f"{where}.add_constant", [acc], (h, w, c), stage=stage, part="cell",
                       const_bytes=nbytes, const_kind=const)
            const = None
        nodes[to] = acc
        consts[to] = (const or _ZERO) if acc is None else None
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


def _conv_output(b: _Builder, x: int) -> int | None:
    """The conv op that ``x`` is the output of once per-channel constant ADDs are folded into its bias."""
    while True:
        p = b.tensors[x].producer
        if p is None:
            return None
        op = b.ops[p]
        if op.kind in CONVS:
            return p
        if op.kind != "ADD" or op.const_kind != _CHANNEL_CONST:
            return None
        x = op.inputs[0]
        if b.tensors[x].consumers != [p]:
            return None


def _fuse_into_producers(b: _Builder, output_id: int) -> None:
    """The converter's fusions, in execution order: a per-channel constant ``ADD`` folds into the bias
    of the conv it follows, a ``RELU`` into the op it follows (``FUSABLE``), when that op's output has
    no other reader. The fused op takes the place of the op folded into it (the rewrite is rooted
    there), so it runs later than in the torch order (measured on every exported model)."""
    ops = b.ops
    slots: list[int | None] = list(range(len(ops)))
    pos = list(range(len(ops)))
    producer = {op.output: i for i, op in enumerate(ops)}
    for r, op in enumerate(ops):
        if op.kind == "RELU":
            kinds = FUSABLE
        elif op.kind == "ADD" and op.const_kind == _CHANNEL_CONST:
            kinds = CONVS
        else:
            continue
        t = op.inputs[0]
        p = producer.get(t)
        if p is None or t == output_id or b.tensors[t].consumers != [r]:
            continue
        prod = ops[p]
        if prod.kind not in kinds or prod.fused_relu:
            continue
        if op.kind == "RELU":
            prod.fused_relu = True
        slots[pos[p]] = None
        slots[pos[r]] = p
        pos[p] = pos[r]
        prod.output = op.output
        producer[op.output] = p
    b.ops = [ops[i] for i in slots if i is not None]
    _relink(b)


def _relink(b: _Builder) -> None:
    for t in b.tensors:
        t.consumers = []
        t.producer = None
    for idx, op in enumerate(b.ops):
        b.tensors[op.output].producer = idx
        for i in op.inputs:
            b.tensors[i].consumers.append(idx)


def _dead_tensors(b: _Builder, input_id: int) -> None:
    """Keep only used tensors, numbered as the ``.tflite`` numbers them: the input, then each op's
    output in execution order (TFLM's planner breaks size ties by this index)."""
    order = [input_id] + [op.output for op in b.ops]
    remap = {old: new for new, old in enumerate(order)}
    tensors = []
    for old in order:
        t = b.tensors[old]
        t.id = remap[old]
        tensors.append(t)
    b.tensors = tensors
    for op in b.ops:
        op.inputs = [remap[i] for i in op.inputs]
        op.output = remap[op.output]
    _relink(b)


def _constant_network(b: _Builder, input_id: int, c: int, classes: int) -> Graph:
    """A network whose output ignores its input: the converter folds all but the final FC on a constant."""
    feat = b.tensor((c,))
    out = b.op("FULLY_CONNECTED", "head.classifier(constant input)", [feat], (classes,), macs=c * classes,
               weights=c * classes, biases=classes, quant_channels=2, stage=4, part="head")
    b.tensors[feat].nbytes = c
    return Graph(tensors=b.tensors, ops=b.ops, input_id=input_id, output_id=out)


def _head(b: _Builder, x: int, c: int, classes: int, input_id: int) -> Graph:
    """Final BN + ReLU, global average pool, classifier; then the converter's fusions and numbering."""
    name = "head.lastact_bn"
    conv = _conv_output(b, x)
    if conv is not None and not b.tensors[x].consumers:
        # the cell output is a conv output (maybe plus a folded constant): the final BN folds into that conv
        bn_ops: tuple[tuple[str, str], ...] = ()
        relu_src = x
    else:
        bn_ops = (("SUB", "mean"), ("MUL", "scale"), ("MUL", "gamma"), ("ADD", "beta"))
    for kind, part in bn_ops:
        x = b.op(kind, f"{name}.{kind.lower()}_{part}", [x], b.tensors[x].shape, stage=4, part="head",
                 const_bytes=c)
    if bn_ops:
        b.ops[-1].fused_relu = True  # lastact ReLU fused into the BN's final ADD
    else:
        x = b.op("RELU", f"{name}.relu", [relu_src], b.tensors[x].shape, stage=4, part="head")  # fuses into the conv
    return pool_and_classify(b, x, c, classes, input_id)


def pool_and_classify(b: _Builder, x: int, c: int, classes: int, input_id: int) -> Graph:
    """Global average pool (``MEAN``) and classifier (``FULLY_CONNECTED``) on ``x``; then the converter's
    fusions and the ``.tflite`` tensor numbering: the finished graph."""
    h = b.tensors[x].shape[0]
    x = b.op("MEAN", "head.global_avg_pool", [x], (c,), const_bytes=8, cin=c, cout=c, kernel=h, stage=4, part="head")
    out = b.op("FULLY_CONNECTED", "head.classifier", [x], (classes,), macs=c * classes, weights=c * classes,
               biases=classes, quant_channels=2, cin=c, cout=classes, stage=4, part="head")
    _fuse_into_producers(b, out)
    _dead_tensors(b, input_id)
    output_id = b.ops[-1].output
    pads = sum(1 for op in b.ops if op.kind == "PAD")
    return Graph(tensors=b.tensors, ops=b.ops, input_id=0, output_id=output_id, shared_consts=32 if pads else 0)


def build_graph(arch: Arch, C: int, N: int, in_ch: int, hw: int, classes: int) -> Graph:
    """The deployed int8 op graph of the NB201 network with this cell and macro-architecture.

    A cell whose output node is not connected to its input makes the whole network constant;
    the converter folds it away, so such a graph keeps only the final FC on a constant.
    """
    b = _Builder()
    x = b.tensor((hw, hw, in_ch))
    input_id = x
    if not arch.output_connected:
        return _constant_network(b, input_id, C * 4, classes)
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
    return _head(b, x, c, classes, input_id)


# ------------------------------------------------------------------------------------------ mcu space
def _strided_conv3x3(b: _Builder, name: str, x: int, cout: int, stage: int, part: str) -> int:
    """A torch 3×3/s2 conv with padding 1 as the converter emits it: ``PAD`` + valid ``CONV_2D`` on an even
    size (TFLite's SAME would pad 0/1, torch pads 1/1), one SAME ``CONV_2D`` on an odd size (same padding)."""
    h, w, cin = b.tensors[x].shape
    if h % 2 == 0 and w % 2 == 0:
        padded = b.op("PAD", f"{name}.pad", [x], (h + 2, w + 2, cin), stage=stage, part=part)
        return b.conv(name, padded, cout, 3, 2, stage, part)
    ho, wo = (h + 1) // 2, (w + 1) // 2
    depthwise = cin == 1 and part == "stem"
    return b.op("DEPTHWISE_CONV_2D" if depthwise else "CONV_2D", name, [x], (ho, wo, cout),
                macs=ho * wo * cout * 9 * cin, weights=cout * 9 * cin, biases=cout, quant_channels=2 * cout,
                kernel=3, stride=2, cin=cin, cout=cout, stage=stage, part=part)


def _mcu_reduction(b: _Builder, x: int, stage: int) -> int:
    """The mcu network's reduction (``search_spaces.mcu.torch_model.MCUReduction``): a strided 1×1 conv
    shortcut, then ``RELU`` → 3×3/s2 (ReLU fused) → 3×3 → ``ADD``."""
    h, w, cin = b.tensors[x].shape
    cout = 2 * cin
    name = f"stage{stage}.reduction"
    ho, wo = (h + 1) // 2, (w + 1) // 2
    sc = b.op("CONV_2D", f"{name}.shortcut.conv_1x1_s2", [x], (ho, wo, cout), macs=ho * wo * cout * cin,
              weights=cout * cin, biases=cout, quant_channels=2 * cout, kernel=1, stride=2, cin=cin, cout=cout,
              stage=stage, part="reduction")
    r = b.unary("RELU", f"{name}.conv_a.relu", x, stage, "reduction")
    a = _strided_conv3x3(b, f"{name}.conv_a.conv_3x3_s2", r, cout, stage, "reduction")
    r2 = b.unary("RELU", f"{name}.conv_b.relu", a, stage, "reduction")
    conv_b = b.conv(f"{name}.conv_b.conv_3x3", r2, cout, 3, 1, stage, "reduction")
    return b.add(f"{name}.add", sc, conv_b, stage, "reduction")


def build_mcu_graph(arch: MCUArch, in_ch: int, hw: int, classes: int) -> Graph:
    """The deployed int8 op graph of an mcu-space network (``search_spaces.mcu.torch_model.MCUNetwork``)."""
    b = _Builder()
    x = b.tensor((hw, hw, in_ch))
    input_id = x
    if not arch.output_connected:
        return _constant_network(b, input_id, arch.C * 4, classes)
    if arch.stem_stride == 1:
        x = b.conv("stem.conv_3x3", x, arch.C, 3, 1, 0, "stem")
    else:
        x = _strided_conv3x3(b, "stem.conv_3x3_s2", x, arch.C, 0, "stem")
    c = arch.C
    for stage in (1, 2, 3):
        if stage > 1:
            x = _mcu_reduction(b, x, stage)
            c *= 2
        for cell in range(arch.N):
            y = _cell(b, arch, x, stage, cell)
            assert y is not None
            x = y
    return _head(b, x, c, classes, input_id)
