"""Build: the recorded calls, values and gradients become ``Graph`` nodes and edges."""

from __future__ import annotations

from typing import Any

import torch

from ..graph import Edge, Node, Packer, format_number, plain_text
from .backward import Grads, operand_grads
from .naming import Names
from .record import Call, Key, Recorder

__all__ = ["Builder"]

_KINDS = {"leaf": "input", "const": "constant"}


class Builder:
    """Adds nodes and edges in forward order (inputs, then each call, then the outputs) and
    gives the keyword fields of the :class:`~graphanim.graph.Graph` (:meth:`fields`).

    Values and gradients that are 0-dim CPU tensors go into one packed store (see ``Packer``).
    """

    def __init__(self, rec: Recorder, names: Names, grads: Grads, backward: bool) -> None:
        self.rec = rec
        self.names = names
        self.grads = grads
        self.backward = backward
        self.nodes: list[Node] = []
        self.edges: list[Edge] = []
        self.by_key: dict[Key, Node] = {}
        self.packer = Packer()
        self._numbers: dict[Any, tuple[str, Any]] = {}  # (type, number) -> (text, packed code)
        self._dtype_names: dict[Any, str] = {}
        self._known_call: dict[int, int | None] = {}  # module call -> _nearest_known(it)
        self._op_of_call: dict[int, Node] = {}
        self._with_saved: list[Node] = []  # op nodes whose "saved" still holds keys
        self._calls_used: set[int] = set()  # numbers of the module calls that ops ran in

    # values ---------------------------------------------------------------------------------
    def value_node(self, k: Key, kind: str, default: str) -> Node:
        """The node of the value ``k``, made (named, with value and gradient) the first time."""
        node = self.by_key.get(k)
        if node is not None:
            return node
        attrs: dict[str, Any] = {}
        names = self.names
        name = names.of_key.get(k)
        tag = k[0]
        if type(tag) is str:  # "leaf" or "const"
            t = self.rec.keep.get(k[1])
            if name is None and t is not None:
                name = names.params.get(id(t))
                if name is not None:
                    if tag == "leaf":
                        attrs["parameter"] = True
                else:
                    name = names.held.name_of(t)
            grad = self.grads.leaf.get(id(t)) if tag == "leaf" and t is not None else None
        else:
            grad = self.grads.value.get(k)
        name = names.unique(name or default)
        pack = self.packer.add
        if grad is not None:
            grad = pack(grad)
        snap = self.rec.snapshots.get(k)
        if snap is not None:
            dtype = snap.dtype
            dt = self._dtype_names.get(dtype)
            if dt is None:
                dt = self._dtype_names[dtype] = str(dtype).replace("torch.", "")
            shape = snap.shape
            value = pack(snap)
            node = Node(
                f"n{len(self.nodes)}",
                name,
                plain_text(name),
                kind,
                value,
                grad,
                tuple(shape) if shape else (),
                None,
                dt,
                attrs,
            )
            if type(value) is int or type(grad) is int:
                node._store = self.packer.store
        else:
            node = Node(
                f"n{len(self.nodes)}", name, plain_text(name), kind, None, grad, (), None, None,
                attrs,
            )
            if type(grad) is int:
                node._store = self.packer.store
        self.nodes.append(node)
        self.by_key[k] = node
        return node

    def _number_node(self, k: Any) -> Node:
        # Python numbers: a small constant node per use, named by its value (names of constants
        # need not be unique: nobody looks them up by name) (0.0 == -0.0: zeros are told apart
        # by their text)
        nkey = (type(k), k) if k else (type(k), repr(k))
        held = self._numbers.get(nkey)
        if held is None:
            held = self._numbers[nkey] = (
                format_number(float(k)),
                self.packer.add(torch.tensor(k, dtype=torch.float64)),
            )
        text = held[0]
        c = Node(
            f"n{len(self.nodes)}", text, text, "constant", held[1], None, (), None, "float64",
            {"scalar": True},
        )
        c._store = self.packer.store
        self.nodes.append(c)
        return c

    def add_inputs(self, wrapped: list[Any], in_names: list[str]) -> list[str]:
        """Nodes for the tensor arguments (each tensor once); their ids."""
        input_ids: list[str] = []
        for nm, a in zip(in_names, wrapped):
            if isinstance(a, torch.Tensor):
                k = self.rec.see(a)
                if k in self.by_key:  # the same tensor passed twice
                    continue
                node = self.value_node(k, "input" if a.requires_grad else "constant", nm)
                input_ids.append(node.id)
        return input_ids

    def add_outputs(self, out_keys: list[Key]) -> list[str]:
        """Nodes for ``func``'s outputs (after every call: an output may also be an operand)."""
        output_ids: list[str] = []
        for op_node in self._with_saved:
            saved = op_node.attrs["saved"]
            op_node.attrs["saved"] = [self.by_key[k].id for k in saved if k in self.by_key]
        for k in out_keys:
            node = self.value_node(k, "constant" if k[0] == "const" else "value", "output")
            if node.kind == "value":
                node.kind = "output"
            output_ids.append(node.id)
        return output_ids

    # ops ------------------------------------------------------------------------------------
    def add_call(self, call: Call) -> None:
        """The op node of ``call``, its operand and output nodes, and the edges between them."""
        by_key = self.by_key
        operand_nodes: list[Node] = []
        for kind, k in call.operands:
            if kind == "n":
                operand_nodes.append(self._number_node(k))
            else:
                held = by_key.get(k)
                operand_nodes.append(
                    held if held is not None else self.value_node(k, _KINDS.get(k[0], "value"),
                                                                  "value")
                )
        attrs = dict(call.attrs)  # a fresh dict: the one made while func ran sits among temporaries
        if call.saved:
            attrs["saved"] = call.saved  # keys for now; node ids once every value has a node
        if call.module is not None:
            self._module_attrs(call.module, attrs)
        op_node = Node(
            f"n{len(self.nodes)}", call.op, call.label, "op", None, None, (), call.op, None, attrs
        )
        self.nodes.append(op_node)
        self._op_of_call[id(call)] = op_node
        self._operand_edges(call, op_node.id, operand_nodes)
        edges = self.edges
        for j, k in enumerate(call.outputs):
            out_node = by_key.get(k)
            if out_node is None:
                out_node = self.value_node(k, "value", call.op)
            edges.append(Edge(op_node.id, out_node.id, out_node._grad, j, out_node._store))
        if call.saved:
            self._with_saved.append(op_node)

    def _operand_edges(self, call: Call, op_id: str, operand_nodes: list[Node]) -> None:
        edges = self.edges
        in_grads = operand_grads(call, self.grads) if self.backward else None
        if in_grads is None:
            for i, src in enumerate(operand_nodes):
                edges.append(Edge(src.id, op_id, None, i))
            return
        codes = self.packer.codes
        store = self.packer.store
        for i, src in enumerate(operand_nodes):
            g = in_grads[i]
            if g is None:
                edges.append(Edge(src.id, op_id, None, i))
                continue
            code = codes.get(id(g))
            g = self.packer.add(g) if code is None else code
            edges.append(Edge(src.id, op_id, g, i, store if type(g) is int else None))

    # modules --------------------------------------------------------------------------------
    def _nearest_known(self, n: int | None) -> int | None:
        """The module call ``n``, or the nearest call around it whose module has a path (a
        module made inside a ``forward`` and never registered has none)."""
        module_calls = self.rec.module_calls
        module_of = self.names.module_of
        while n is not None and id(module_calls[n][0]) not in module_of:
            n = module_calls[n][1]
        return n

    def _module_attrs(self, number: int, attrs: dict[str, Any]) -> None:
        m = self._known_call.get(number, -1)
        if m == -1:
            m = self._known_call[number] = self._nearest_known(number)
        if m is not None:
            attrs["module"] = self.names.module_of[id(self.rec.module_calls[m][0])]
            attrs["module_call"] = m
            self._calls_used.add(m)

    def _modules(self) -> dict[str, str]:
        used = {n.attrs["module"] for n in self.nodes if "module" in n.attrs}
        return {
            path: cls
            for path, cls in self.names.module_class.items()
            if any(u == path or u.startswith(path + ".") for u in used) or path == ""
        }

    def _module_calls(self) -> dict[int, tuple[str, int | None]]:
        """The module calls the ops ran in, and every call around them."""
        module_calls: dict[int, tuple[str, int | None]] = {}
        todo = sorted(self._calls_used)
        while todo:
            n = todo.pop()
            if n in module_calls:
                continue
            mod, parent = self.rec.module_calls[n]
            path = self.names.module_of.get(id(mod))
            if path is None:
                continue
            parent = self._nearest_known(parent)
            module_calls[n] = (path, parent)
            if parent is not None:
                todo.append(parent)
        return dict(sorted(module_calls.items()))

    # the graph ------------------------------------------------------------------------------
    def backward_ids(self, owner: dict[Any, Call]) -> list[str]:
        """The op nodes in the order the backward pass ran them."""
        ids: list[str] = []
        seen_calls: set[int] = set()
        for node in self.grads.order:
            ran = owner.get(node)
            if ran is not None and id(ran) not in seen_calls:
                seen_calls.add(id(ran))
                ids.append(self._op_of_call[id(ran)].id)
        return ids

    def fields(self, inputs: list[str], outputs: list[str], backward_order: list[str]) -> dict[
        str, Any
    ]:
        """The keyword arguments of the :class:`~graphanim.graph.Graph` built."""
        self.packer.finish()
        return {
            "nodes": self.nodes,
            "edges": self.edges,
            "inputs": inputs,
            "outputs": outputs,
            "backward_order": backward_order,
            "parameters": [n.id for n in self.nodes if n.attrs.get("parameter")],
            "has_backward": self.backward,
            "modules": self._modules(),
            "module_calls": self._module_calls(),
            "_sequential_ids": True,
        }
