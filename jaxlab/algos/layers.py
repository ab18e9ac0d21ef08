"""A net section's body as a list of layers, each with the PyTorch `state_dict` name SLM Lab's net class gives
it: MLPNet (`model.{i}`), DuelingMLPNet (`model_body.{i}`), ConvNet (`conv_model.{i}`, `fc_model.{i}`) and
TorchArcNet (`body.{module}.{i}`, from its `arc`: the modules of a `graph` chained input -> output, each a
`Sequential` list or one layer).

A layer is a tuple `(op, name, *args)`: ("linear", name, out_features), ("conv", name, out_channels, kernel,
stride, padding, dilation), ("layernorm", name), ("flatten", None), ("act", None, activation), ("scale", None,
factor). Names index every entry of a Sequential, activations included, as PyTorch numbers them; layers
without parameters keep no name. `networks.Body` runs the list in Flax, `jaxlab.export` in PyTorch.
"""

from __future__ import annotations

from typing import Any

from jaxlab.schema import SpecError, show, suggest

# PyTorch's activation modules by lower-case name (SLM Lab finds `hid_layers_activation` in torch.nn by its
# lower-case name); jaxlab's earlier "leaky_relu" spelling is kept.
ACTIVATION_NAMES = {
    "relu": "ReLU",
    "tanh": "Tanh",
    "selu": "SELU",
    "silu": "SiLU",
    "elu": "ELU",
    "leakyrelu": "LeakyReLU",
    "leaky_relu": "LeakyReLU",
    "sigmoid": "Sigmoid",
    "gelu": "GELU",
    "softplus": "Softplus",
    "mish": "Mish",
    "identity": "Identity",
}
ACTIVATIONS = tuple(sorted(set(ACTIVATION_NAMES.values())))
LINEAR_LAYERS = ("Linear", "LazyLinear")
CONV_LAYERS = ("Conv2d", "LazyConv2d")
NEXT_ISSUE_LAYERS = (
    "BatchNorm1d",
    "LazyBatchNorm1d",
    "BatchNorm2d",
    "LazyBatchNorm2d",
    "BatchRenorm1d",
    "LazyBatchRenorm1d",
)
KNOWN_LAYERS = (*LINEAR_LAYERS, *CONV_LAYERS, "Flatten", "LayerNorm", "LazyLayerNorm", *ACTIVATIONS)


def activation(name: str, where: str) -> str:
    """PyTorch's class name of an activation given by any-case name ("relu", "SELU"), or a one-line error."""
    found = ACTIVATION_NAMES.get(str(name).lower())
    if found is None:
        raise SpecError(
            f"{where} = {show(name)} is not an activation jaxlab has — use one of"
            f" {', '.join(ACTIVATIONS)}{suggest(str(name), ACTIVATIONS)}"
        )
    return found


def mlp(prefix: str, hid_layers: list[int], act: str, layer_norm: bool = False) -> list[tuple]:
    """SLM Lab's build_fc_model: Linear [LayerNorm] activation per hidden layer, in one Sequential."""
    layers: list[tuple] = []
    for width in hid_layers:
        layers.append(("linear", f"{prefix}.{len(layers)}", width))
        if layer_norm:
            layers.append(("layernorm", f"{prefix}.{len(layers)}"))
        layers.append(("act", None, act))
    return layers


def conv(conv_hid_layers: list[list[int]], fc_hid_layers: list[int], act: str) -> list[tuple]:
    """SLM Lab's ConvNet: conv_model (Conv2d [out, kernel, stride, padding, dilation] + activation each),
    flattened, then fc_model."""
    layers: list[tuple] = []
    for spec in conv_hid_layers:
        out, kernel, stride, padding, dilation = [*spec, *(0, 1)[len(spec) - 3 :]]  # padding 0, dilation 1
        layers.append(("conv", f"conv_model.{len(layers)}", out, kernel, stride, padding, dilation))
        layers.append(("act", None, act))
    return [*layers, ("flatten", None), *mlp("fc_model", fc_hid_layers, act)]


def net_layers(net_spec: dict, where: str) -> list[tuple]:
    """The body layers of a validated net section (`where`: its path, for errors)."""
    net_type, act = (
        net_spec["type"],
        activation(net_spec["hid_layers_activation"], f"{where}.hid_layers_activation"),
    )
    if net_spec["batch_norm"]:
        raise SpecError(
            f"{where}.batch_norm = true: batch-norm layers are not in jaxlab yet — set {where}.batch_norm:"
            " false"
        )
    if net_spec["out_layer_activation"]:
        raise SpecError(
            f"{where}.out_layer_activation: an activation after the output tails is not in jaxlab — remove it"
        )
    scale = [("scale", None, 1.0 / 255.0)] if net_spec["normalize"] else []
    if net_type == "TorchArcNet":
        if not net_spec["arc"]:
            raise SpecError(f"{where}.type = TorchArcNet needs {where}.arc (its modules and graph)")
        return scale + arc(net_spec["arc"], f"{where}.arc")
    if net_type.endswith("ConvNet"):
        return scale + conv(net_spec["conv_hid_layers"], net_spec["fc_hid_layers"], act)
    prefix = "model_body" if net_type.startswith("Dueling") else "model"
    return scale + mlp(prefix, net_spec["hid_layers"], act, net_spec["layer_norm"])


def arc(arc_spec: dict, where: str) -> list[tuple]:
    """TorchArcNet's body from torcharc's `{modules, graph}`: the graph must chain its modules one after
    another from the input to the output (the form of every SLM Lab arc spec)."""
    modules, graph = arc_spec.get("modules"), arc_spec.get("graph")
    if not isinstance(modules, dict) or not modules or not isinstance(graph, dict):
        raise SpecError(f"{where} needs modules (name: layers) and graph (input, modules, output)")
    unknown = set(arc_spec) - {"modules", "graph"}
    if unknown:
        raise SpecError(f"unknown key {where}.{sorted(unknown)[0]} — an arc has modules and graph")
    order = _chain(graph, list(modules), f"{where}.graph")
    layers: list[tuple] = []
    for name in order:
        layers += _module(modules[name], f"body.{name}", f"{where}.modules.{name}")
    return layers


def _chain(graph: dict, names: list[str], where: str) -> list[str]:
    """The modules of `graph` in order, each fed by the one before (the first by the input)."""
    source, wiring, output = graph.get("input"), graph.get("modules"), graph.get("output")
    if not isinstance(source, str) or not isinstance(wiring, dict) or not isinstance(output, str):
        raise SpecError(f"{where} needs input (a name), modules (module: [its input]) and output (a module)")
    order, current = [], source
    remaining = dict(wiring)
    while remaining:
        fed = [name for name, inputs in remaining.items() if inputs in ([current], current)]
        if len(fed) != 1:
            raise SpecError(
                f"{where}: jaxlab runs graphs that chain their modules one after another from the input"
                f" {show(source)} — {show(current)} feeds {len(fed)} modules"
            )
        (current,) = fed
        if current not in names:
            raise SpecError(f"{where}.modules.{current} is not one of the arc's modules ({', '.join(names)})")
        order.append(current)
        del remaining[current]
    if current != output:
        raise SpecError(
            f"{where}.output = {show(output)} must be the last module of the chain, {show(current)}"
        )
    return order


def _module(module: Any, prefix: str, where: str) -> list[tuple]:
    """One arc module: a `Sequential` list (names prefix.{i}) or a single layer (named prefix)."""
    if isinstance(module, dict) and list(module) == ["Sequential"]:
        entries = module["Sequential"]
        if not isinstance(entries, list) or not entries:
            raise SpecError(f"{where}.Sequential must be a non-empty list of layers")
        return [_layer(entry, f"{prefix}.{i}", f"{where}.Sequential[{i}]") for i, entry in enumerate(entries)]
    return [_layer(module, prefix, where)]


def _layer(entry: Any, name: str, where: str) -> tuple:
    """One torch.nn layer `{LayerName: {kwargs}}` (kwargs may be null) as a layer tuple."""
    if not isinstance(entry, dict) or len(entry) != 1:
        raise SpecError(f"{where} must be one layer, {{LayerName: {{arguments}}}}, got {show(entry)}")
    ((kind, kwargs),) = entry.items()
    kwargs = kwargs or {}
    if kind in NEXT_ISSUE_LAYERS:
        raise SpecError(
            f"{where}: {kind} layers are not in jaxlab yet (they come with CrossQ) — use LayerNorm"
        )
    if kind not in KNOWN_LAYERS:
        raise SpecError(
            f"{where}: {show(kind)} is not a layer jaxlab builds — it builds {', '.join(KNOWN_LAYERS)}"
            f"{suggest(str(kind), KNOWN_LAYERS)}"
        )
    if not isinstance(kwargs, dict):
        raise SpecError(f"{where}.{kind} takes a mapping of arguments, got {show(kwargs)}")
    if kind in LINEAR_LAYERS:
        _only(kwargs, ("out_features", "in_features", "bias"), where, kind)
        return ("linear", name, _positive(kwargs, "out_features", where, kind))
    if kind in CONV_LAYERS:
        _only(
            kwargs,
            ("out_channels", "in_channels", "kernel_size", "stride", "padding", "dilation"),
            where,
            kind,
        )
        return (
            "conv",
            name,
            _positive(kwargs, "out_channels", where, kind),
            _positive(kwargs, "kernel_size", where, kind),
            _positive(kwargs, "stride", where, kind, 1),
            _positive(kwargs, "padding", where, kind, 0, low=0),
            _positive(kwargs, "dilation", where, kind, 1),
        )
    if kind in ("LayerNorm", "LazyLayerNorm"):
        _only(kwargs, ("normalized_shape",), where, kind)
        return ("layernorm", name)
    if kind == "Flatten":
        _only(kwargs, (), where, kind)
        return ("flatten", None)
    _only(kwargs, (), where, kind)
    return ("act", None, kind)


def _only(kwargs: dict, allowed: tuple[str, ...], where: str, kind: str) -> None:
    for key in kwargs:
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            raise SpecError(
                f"{where}.{kind}: argument {show(key)} is not one jaxlab reads (it reads {known})"
            )
    if kwargs.get("bias", True) is not True:
        raise SpecError(f"{where}.{kind}: bias: false is not supported — remove it")


def _positive(kwargs: dict, key: str, where: str, kind: str, default: int | None = None, low: int = 1) -> int:
    value = kwargs.get(key, default)
    if isinstance(value, list) and len(set(value)) == 1:
        value = value[0]  # a square kernel or stride given as [k, k]
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise SpecError(f"{where}.{kind}.{key} must be a whole number >= {low}, got {show(value)}")
    return value


def check_net(net_spec: dict, where: str) -> None:
    """Raise the SpecError building this net section's bodies would (its own, and an actor's or critic's
    arc or hid_layers given apart)."""
    net_layers(net_spec, where)
    for role in ("actor", "critic"):
        for key in ("arc", "hid_layers"):
            if net_spec.get(f"{role}_{key}") is not None:
                net_layers({**net_spec, key: net_spec[f"{role}_{key}"]}, f"{where}.{role}_{key}")
