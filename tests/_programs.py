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
    params = ", ".join(f"x{i}" for i in range(n_in))
    src = (
        f"def prog({params}):\n"
        + "".join(f"    {ln}\n" for ln in lines)
        + f"    return ({', '.join(outs)},)\n"
    )
    return src, args, seeds, outs
