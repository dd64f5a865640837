"""Property-based fuzzing of the model loader (issue 13, part 2).

Mutated copies of ``models/cls_small.toml`` (keys deleted, replaced, duplicated or
renamed, values of the wrong type, odd strings, units and digits, deep
nesting), mutated TOML text, and ``--set`` overrides are fed to the loader.
Every case must either load, and then also have a resource estimate, or raise
:class:`~neuromem.spec.ModelError` naming the file and the key path; no other
exception, and no case may take seconds (hypothesis ``deadline``).

The issue's crashes are pinned as explicit ``@example`` cases.  The number of
cases run is counted in :data:`CASES` and printed by the last test
(``pytest -s tests/test_fuzz_loader.py``); ``NEUROMEM_FUZZ_EXAMPLES=N`` runs
``N`` generated cases per test instead of the quick default.
"""

from __future__ import annotations

import collections
import copy
import os
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from neuromem.spec import Model, ModelError
from neuromem.spec.loader import dumps_model, loads_model
from neuromem.spec.resources import estimate_resources

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
BASE_TEXT = (REPO / "models" / "cls_small.toml").read_text(encoding="utf-8")
BASE = tomllib.loads(BASE_TEXT)
FILE = "fuzz/cls.toml"

CASES: collections.Counter = collections.Counter()
"""Cases run per test and outcome (``loaded`` / ``refused``)."""

N = int(os.environ.get("NEUROMEM_FUZZ_EXAMPLES", "0"))
SETTINGS = settings(max_examples=N or 150, deadline=3000, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _paths(raw) -> list[tuple]:
    """Every key path of a raw table (tuples of str keys and int indices), iteratively."""
    out, stack = [], [((), raw)]
    while stack:
        path, node = stack.pop()
        if path:
            out.append(path)
        if isinstance(node, dict):
            stack.extend((path + (k,), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((path + (i,), v) for i, v in enumerate(node))
    return sorted(out, key=lambda p: [str(x) for x in p])


PATHS = _paths(BASE)


def _check(text: str | None = None, overrides=(), raw=None, syntax_ok: bool = True, name: str = ""):
    """Load; on success estimate resources and round-trip; else check the error names file and key."""
    if raw is not None:
        text = tomli_w.dumps(raw)
    try:
        m = loads_model(text, file=FILE, overrides=overrides)
    except ModelError as e:
        CASES[name, "refused"] += 1
        msg = str(e)
        assert e.file == FILE and msg.startswith(FILE + ": "), msg
        if e.key is None:
            # only a file the TOML parser cannot read has no key path
            assert not syntax_ok and msg.startswith(f"{FILE}: TOML syntax error"), msg
        else:
            assert e.key and msg.startswith(f"{FILE}: {e.key}: "), msg
        return None
    CASES[name, "loaded"] += 1
    assert isinstance(m, Model)
    est = estimate_resources(m)
    assert est["total_bytes"] > 0 and est["steps"] > 0
    assert loads_model(dumps_model(m), file=FILE) == m
    return m


# ---------------------------------------------------------------- values

DIGITS = "0123456789"
ODD_DIGITS = ["０１２３４５６７８９", "٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "०१२३४५६७८९", "²¹³⁴⁵⁶⁷⁸⁹⁰"]
UNITS = ["s", "ms", "us", "µs", "ns", "V", "mV", "uV", "Hz", "kHz", "MS", "mv", "hz", "", " ", "ms ms", "%"]


def _odd(text: str, table: str) -> str:
    return text.translate(str.maketrans(DIGITS, table))


numbers = st.one_of(
    st.integers(-10, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["1e1000000", "1e-1000000", "1e999", "-0", "0", ".5", "5.", "1_000", "0x10", "nan", "inf",
                     "9" * 400, "1e309", "-1e-330"]),
)
quantities = st.one_of(
    st.builds(lambda n, sp, u: f"{n}{sp}{u}", numbers, st.sampled_from(["", " ", "  ", "\u00a0", "\t"]),
              st.sampled_from(UNITS)),
    st.builds(lambda q, t: _odd(q, t), st.sampled_from(["20 ms", "0.5 ms", "-70 mV", "200 Hz", "40 s"]),
              st.sampled_from(ODD_DIGITS)),
)
names = st.one_of(
    st.sampled_from(["ctx_e", "ctx_i", "hpc_e", "ctx_in", "reset", "ctx_ee", "ctx_i", "spikemon_ctx_e",
                     "statemon_hpc_e", "ctx_ee_pre", "ctx_e_stateupdater", "class", "_x", "ctx-i", "ctx i",
                     "", "Recall", "recall", "wake", "sleep", "encode", "ctx_slow", "x" * 300, "ｃｔｘ"]),
    st.text(max_size=12),
)
leaves = st.one_of(
    st.integers(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), names, quantities, st.text(max_size=30), st.dates(),
)
values = st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                      st.dictionaries(names, inner, max_size=3)), max_leaves=8)


def _deep(depth: int, inner, table: bool):
    v = inner
    for _ in range(depth):
        v = {"a": v} if table else [v]
    return v


# ---------------------------------------------------------------- mutations of the raw table


MODEL_NAMES = sorted({k for sec in ("populations", "sources", "projections", "rules") for k in BASE[sec]}
                     | {ph["name"] for ph in BASE["protocol"]["phases"]})
KIND_WORDS = ["encode", "sleep", "recall", "wake", "Recall", "patterns", "noise", "excitatory", "inhibitory",
              "symmetric", "asymmetric", "incoming", "outgoing", "constant", "uniform", "normal", "all_to_all",
              "one_to_one", "fixed_probability", "fixed_indegree", "pair_stdp", "vogels_istdp", "normalisation",
              "lif", "cond_lif"]


def _plausible(draw, old):
    """A value of the same TOML type as ``old``, often valid, to reach the checks past the type checks."""
    if isinstance(old, bool):
        return not old
    near = st.floats(0.25, 4.0)            # a valid value scaled a little is often still valid
    if isinstance(old, int):
        return draw(st.one_of(near.map(lambda f: max(1, round(old * f))), st.integers(-3, 3000),
                              st.sampled_from([0, 1, 2**31, 2**63 - 1, 10**9])))
    if isinstance(old, float):
        return draw(st.one_of(near.map(lambda f: old * f), st.floats(-0.5, 1.5),
                              st.sampled_from([0.0, 1.0, 1e-300, 1e300])))
    if isinstance(old, str):
        parts = old.split()
        try:       # an earlier mutation may have left digits float() cannot read ("³² ms")
            base = float(parts[0]) if len(parts) == 2 else None
        except ValueError:
            base = None
        if base is not None and parts[1] in UNITS:
            number = draw(st.one_of(near.map(lambda f: f"{base * f:.6g}"),
                                    st.floats(-1e3, 1e4, allow_nan=False).map(lambda x: f"{x:.6g}"),
                                    st.sampled_from(["0", "1e-300", "1e300", "0.0005", "0.25", "0.75", "20"])))
            return f"{number} {draw(st.sampled_from([parts[1]] * 4 + ['ms', 's', 'Hz', 'mV']))}"
        return draw(st.sampled_from(MODEL_NAMES + KIND_WORDS))
    if isinstance(old, list) and all(isinstance(x, str) for x in old):
        return draw(st.lists(st.sampled_from(MODEL_NAMES), max_size=4))
    return draw(values)


def _get(raw, path):
    node = raw
    for k in path:
        node = node[k]
    return node


@st.composite
def mutated(draw):
    raw = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 2))):
        paths = _paths(raw)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent, key = _get(raw, path[:-1]), path[-1]
        op = draw(st.sampled_from(["delete", "replace", "duplicate", "rename", "wrap", "deep", "quantity",
                                   "plausible", "plausible", "plausible", "plausible"]))
        if op == "plausible":
            parent[key] = _plausible(draw, parent[key])
        elif op == "delete":
            del parent[key]
        elif op == "replace":
            parent[key] = draw(values)
        elif op == "quantity":
            parent[key] = draw(quantities)
        elif op == "duplicate":
            if isinstance(parent, list):
                parent.insert(key, copy.deepcopy(parent[key]))
            else:
                parent[draw(names)] = copy.deepcopy(parent[key])
        elif op == "rename":
            if isinstance(parent, dict):
                new = draw(names)
                parent[new] = parent.pop(key)
            else:
                parent[key] = {"name": draw(names)}
        elif op == "wrap":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
        else:
            parent[key] = _deep(draw(st.integers(2, 60)), parent[key], draw(st.booleans()))
    return raw


def _with(path, value):
    raw = copy.deepcopy(BASE)
    _get(raw, path[:-1])[path[-1]] = value
    return raw


def _renamed(section, old, new):
    raw = copy.deepcopy(BASE)
    raw[section][new] = raw[section].pop(old)
    return raw


@SETTINGS
@given(raw=mutated())
@example(raw=_with(("dt",), "1e1000000 s"))
@example(raw=_with(("dt",), "０.５ ms"))
@example(raw=_with(("dt",), "٠.٥ ms"))
@example(raw=_with(("dt",), "30 ms"))                                     # dt > tau
@example(raw=_with(("protocol", "n_memories"), 1000000000))
@example(raw=_with(("protocol", "n_memories"), 2**63 - 1))
@example(raw=_with(("protocol", "phases", 1, "kind"), "Recall"))
@example(raw=_with(("protocol", "phases", 1, "stimuli", 0, "item"), "20 ms"))
@example(raw=_with(("protocol", "phases", 1, "stimuli", 0, "rate"), "3 kHz"))   # rate * dt > 1
@example(raw=_with(("projections", "ctx_ee", "delay"), "1.2 ms"))
@example(raw=_with(("projections", "ctx_ee", "connector", "p"), 10**400))
@example(raw=_with(("populations", "hpc_e", "size"), 200000))
@example(raw=_with(("populations", "ctx_e", "tau_m"), _deep(100, "20 ms", False)))    # deeper: the text tests
@example(raw=_with(("populations", "ctx_e", "tau_m"), _deep(100, "20 ms", True)))
@example(raw=_renamed("populations", "ctx_i", "ctx-i"))
@example(raw=_renamed("projections", "ctx_ee", "ctx_i"))
@example(raw=_renamed("projections", "ctx_ee", "spikemon_ctx_e"))
@example(raw=_renamed("sources", "reset", "class"))
@example(raw={k: v for k, v in BASE.items() if k != "sources"})
def test_mutated_model_tables(raw):
    _check(raw=raw, name="tables")


# ---------------------------------------------------------------- mutations of the text


@st.composite
def mutated_text(draw):
    lines = BASE_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "value", "digits", "insert", "nest"]))
        line = lines[i]
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, line)
        elif op == "value" and "=" in line:
            key = line.split("=", 1)[0]
            lines[i] = f"{key}= {draw(st.one_of(quantities.map(repr), st.text(max_size=20)))}"
        elif op == "digits":
            lines[i] = _odd(line, draw(st.sampled_from(ODD_DIGITS)))
        elif op == "insert":
            lines.insert(i, draw(st.text(max_size=40)))
        elif op == "nest" and "=" in line:
            n = draw(st.integers(10, 1500))
            key = line.split("=", 1)[0]
            lines[i] = f"{key}= {'[' * n}1{']' * n}"
    return "\n".join(lines) + "\n"


@SETTINGS
@given(text=mutated_text())
@example(text=BASE_TEXT.replace('dt = "0.5 ms"', 'dt = "1e1000000 s"'))
@example(text=BASE_TEXT.replace('n_memories = 10', 'n_memories = 10\nx = ' + '[' * 1000 + ']' * 1000))
@example(text=BASE_TEXT.replace('n_memories = 10', 'n_memories = 10\nx = ' + '{a=' * 1000 + '1' + '}' * 1000))
@example(text=BASE_TEXT.replace('n_memories = 10', 'n_memories = 10\n' + '.'.join(['x'] * 1000) + ' = 1'))
@example(text=BASE_TEXT + '\n[' + '.'.join(['x'] * 5000) + ']\ny = 1\n')
@example(text=BASE_TEXT.replace('dt = "0.5 ms"', 'dt = "０.５ ms"'))
@example(text=BASE_TEXT.replace('kind = "recall"', 'kind = "Recall"', 1))
@example(text=BASE_TEXT.replace('[projections.ctx_ii]', '[projections.ctx_i]'))
@example(text=BASE_TEXT.replace('[populations.ctx_i]', '[populations.ctx-i]').replace('"ctx_i"', '"ctx-i"'))
@example(text=BASE_TEXT.split("# ---------------------------------------------------------------- inputs")[0]
         + "[protocol]\nn_memories = 1\npattern_population = \"ctx_e\"\ncoding_level = 0.1\n"
         + "[[protocol.phases]]\nname = \"rest\"\nkind = \"wake\"\nduration = \"1 s\"\n")   # no sources
def test_mutated_model_text(text):
    _check(text=text, syntax_ok=False, name="text")


# ---------------------------------------------------------------- --set overrides


def _segment(draw, part):
    if isinstance(part, int):
        odd = _odd(str(part), draw(st.sampled_from(ODD_DIGITS)))
        return draw(st.sampled_from([str(part)] * 6 + [odd, str(-part - 1), str(part + 100), "²", " "]))
    return part


@st.composite
def override(draw):
    path = draw(st.sampled_from(PATHS))
    old = _get(BASE, path)
    if not isinstance(old, (dict, list)) and draw(st.booleans()):     # a well-formed override
        v = _plausible(draw, old)
        return ".".join(map(str, path)) + "=" + (v if isinstance(v, str) else tomli_w.dumps({"v": v})[4:].strip())
    segs = [_segment(draw, p) for p in path]
    if draw(st.integers(0, 3)) == 0:
        segs[draw(st.integers(0, len(segs) - 1))] = draw(names)
    if draw(st.integers(0, 4)) == 0:
        segs.append(draw(names))
    value = draw(st.one_of(
        quantities, numbers, st.text(max_size=20),
        st.sampled_from(["true", "[1, 2]", "{ kind = \"constant\", value = \"1 mV\" }", '"20 s"', "", "=",
                         "[" * 50 + "]" * 50, "[" * 2000 + "]" * 2000, "{a=" * 600 + "1" + "}" * 600]),
        values.map(lambda v: tomli_w.dumps({"v": v})[4:].strip())))
    return ".".join(segs) + "=" + value


@SETTINGS
@given(overrides=st.lists(override(), min_size=1, max_size=2))
@example(overrides=["dt=1e1000000 s"])
@example(overrides=["protocol.phases.²=x"])
@example(overrides=["protocol.phases.٣.kind=recall"])
@example(overrides=["protocol.phases.３.duration=1 s"])
@example(overrides=["protocol.phases.1.kind=Recall"])
@example(overrides=["protocol.n_memories=1000000000"])
@example(overrides=["protocol.phases.recall_intact_after_encoding.stimuli.0.item=20 ms"])
@example(overrides=["protocol.phases.sleep.stimuli.0.rate=2001 Hz"])
@example(overrides=["projections.ctx_ee.delay=0.7 ms"])
@example(overrides=["dt=25 ms"])
@example(overrides=["populations.ctx_e.size=1e3"])
@example(overrides=["protocol.n_memories=" + "[" * 1000 + "]" * 1000])
@example(overrides=["populations.hpc_e.size=200000", "sources.hpc_in.size=200000"])
def test_overrides(overrides):
    _check(text=BASE_TEXT, overrides=overrides, name="--set")


def test_zz_report_cases(capsys):
    """Print how many fuzz cases ran (visible with ``pytest -s``; also in the captured output)."""
    total = sum(CASES.values())
    by_test = collections.Counter()
    for (name, outcome), n in CASES.items():
        by_test[name] += n
    with capsys.disabled():
        print(f"\nfuzz cases run: {total} ("
              + ", ".join(f"{k}: {by_test[k]} ({CASES[k, 'loaded']} loaded, {CASES[k, 'refused']} refused)"
                          for k in sorted(by_test)) + ")")
    if by_test:          # the fuzz tests ran in this process (not deselected)
        assert all(n >= 10 for n in by_test.values()), dict(by_test)
