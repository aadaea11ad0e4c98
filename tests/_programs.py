"""A hypothesis strategy for random expression programs (source text, args, seeds, outputs)."""

from __future__ import annotations

from hypothesis import strategies as st

UNARY = {
    "sin": "torch.sin({a})",
    "cos": "torch.cos({a})",
    "tanh": "torch.tanh({a})",
    "sigmoid": "torch.sigmoid({a})",
    "neg": "-{a}",
    "square": "{a} ** 2",
    "self_mul": "{a} * {a}",
    "scale": "{c} * {a}",
    "shift": "{a} + {c}",
    "rsub": "{c} - {a}",
    "exp_sin": "torch.exp(torch.sin({a}))",
}
BINARY = {
    "add": "{a} + {b}",
    "sub": "{a} - {b}",
    "mul": "{a} * {b}",
    "max": "torch.max({a}, {b})",
    "min": "torch.minimum({a}, {b})",
    "div": "{a} / (1.5 + torch.tanh({b}))",
}


@st.composite
def programs(draw):
    n_in = draw(st.integers(1, 3))
    lines = []
    names = [f"x{i}" for i in range(n_in)]
    for k in range(draw(st.integers(1, 10))):
        c = draw(st.sampled_from([0.5, 2.0, -1.5, 3.0]))
        if len(names) > 1 and draw(st.booleans()):
            a = draw(st.sampled_from(names))
            b = draw(st.sampled_from(names))
            expr = BINARY[draw(st.sampled_from(sorted(BINARY)))].format(a=a, b=b)
        else:
            a = draw(st.sampled_from(names))
            expr = UNARY[draw(st.sampled_from(sorted(UNARY)))].format(a=a, c=c)
        lines.append(f"v{k} = {expr}")
        names.append(f"v{k}")
    n_out = draw(st.integers(1, min(3, len(lines))))
    outs = draw(
        st.lists(
            st.sampled_from([f"v{k}" for k in range(len(lines))]),
            min_size=n_out,
            max_size=n_out,
            unique=True,
        )
    )
    args = draw(st.lists(st.floats(-2, 2, allow_nan=False), min_size=n_in, max_size=n_in))
    seeds = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=n_out, max_size=n_out))
    src = _source(n_in, lines, outs)
    return src, args, seeds, outs


# Ops that read their operands without saving them for backward (an in-place update of an
# operand afterwards leaves the backward intact), and the ones that save them.
KEEPS_NOTHING = {
    "neg": "-{a}",
    "scale": "{c} * {a}",
    "shift": "{a} + {c}",
    "rsub": "{c} - {a}",
    "add": "{a} + {b}",
    "sub": "{a} - {b}",
}
SAVES_OPERANDS = {
    "sin": "torch.sin({a})",
    "square": "{a} ** 2",
    "mul": "{a} * {b}",
    "max": "torch.maximum({a}, {b})",
}
UPDATES = {"add_": "{a}.add_({c})", "mul_": "{a}.mul_({c})", "sub_": "{a}.sub_({b})"}


@st.composite
def programs_with_inplace(draw):
    """Random programs that update values in place after other ops have read them.

    A value may be updated in place when no op saved it for backward so far (an op that saves
    its operands freezes them) and it is not an input (a leaf): autograd allows exactly these.
    Returns (source, args, outputs); the function returns its outputs as a tuple.
    """
    n_in = draw(st.integers(1, 3))
    names = [f"x{i}" for i in range(n_in)]
    free: list[str] = []  # values no op saved: in-place updates are allowed on these
    lines = []
    k = 0
    for _ in range(draw(st.integers(2, 12))):
        c = draw(st.sampled_from([0.5, 2.0, -1.5, 3.0]))
        if free and draw(st.integers(0, 2)) == 0:
            a = draw(st.sampled_from(free))
            b = draw(st.sampled_from(names))
            op = draw(st.sampled_from(sorted(UPDATES)))
            if op == "sub_" and b == a:
                op = "add_"
            lines.append(UPDATES[op].format(a=a, b=b, c=c))
            continue
        a, b = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        if draw(st.booleans()):
            expr = KEEPS_NOTHING[draw(st.sampled_from(sorted(KEEPS_NOTHING)))]
        else:
            expr = SAVES_OPERANDS[draw(st.sampled_from(sorted(SAVES_OPERANDS)))]
            for v in (a, b) if "{b}" in expr else (a,):
                if v in free:
                    free.remove(v)
        lines.append(f"v{k} = {expr.format(a=a, b=b, c=c)}")
        names.append(f"v{k}")
        free.append(f"v{k}")  # (its producer saved nothing of its own output: see above)
        k += 1
    outs = draw(st.lists(st.sampled_from(names[n_in:]), min_size=1, max_size=3, unique=True))
    args = draw(st.lists(st.floats(-2, 2, allow_nan=False), min_size=n_in, max_size=n_in))
    return _source(n_in, lines, outs), args, outs


def _source(n_in: int, lines: list[str], outs: list[str]) -> str:
    """``def prog(x0, ...)`` running ``lines`` and returning ``outs`` as a tuple."""
    params = ", ".join(f"x{i}" for i in range(n_in))
    body = "".join(f"    {ln}\n" for ln in lines)
    return f"def prog({params}):\n{body}    return ({', '.join(outs)},)\n"
