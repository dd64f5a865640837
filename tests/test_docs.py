"""The documentation keeps up with the code.

* README.md's "Command line" section names every subcommand (and every
  choice of a subcommand's first positional argument, e.g. ``export lava``)
  with every long option, walking the real argparse parser.
* models/README.md documents every key the model loader accepts, walking the
  loader's schema tables, and every rule type, connector, weight and stimulus
  kind.
* The newcomer's kit exists: licence, changelog, notebook extra and target.

Nothing here is copied from the code: add an option or a key and these tests
ask for its documentation.
"""

import argparse
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _section(text: str, heading: str) -> str:
    """The text of the ``## heading...`` section, up to the next ``## `` heading."""
    m = re.search(rf"^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert m, f"no section '## {heading}'"
    return m.group(1)


def _synopsis_lines(section: str) -> list[str]:
    """Lines of the section's code blocks, each ``neuromem ...`` line joined with its indented continuations."""
    lines, out, in_code = section.splitlines(), [], False
    for line in lines:
        if line.startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            continue
        if line.startswith("neuromem"):
            out.append(line)
        elif line.startswith(" ") and out:
            out[-1] += " " + line.strip()
    return out


def _commands():
    """``(words, long options, choices)`` for the top level and every subcommand.

    ``choices`` are those of the subcommand's first positional argument that
    has choices (``export lava|nir``), else ``()``.
    """
    from neuromem.cli import build_parser

    built = build_parser()
    parser = built[0] if isinstance(built, tuple) else built
    found = []

    def long_options(p):
        return sorted({o for a in p._actions for o in a.option_strings if o.startswith("--") and o != "--help"})

    def walk(p, words):
        subs = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
        positional_choices = [a.choices for a in p._actions
                              if not a.option_strings and a.choices and not isinstance(a, argparse._SubParsersAction)]
        choices = tuple(str(c) for c in positional_choices[0]) if positional_choices else ()
        found.append((words, long_options(p), choices))
        for s in subs:
            for name, sp in s.choices.items():
                walk(sp, words + (name,))

    walk(parser, ())
    return found


COMMANDS = _commands()


def test_parser_walk_finds_the_known_commands():
    by_name = {" ".join(w): (o, c) for w, o, c in COMMANDS}
    assert {"run", "validate", "info", "check", "export"} <= set(by_name)
    assert {"--seed", "--out", "--set", "--target"} <= set(by_name["run"][0])
    assert set(by_name["export"][1]) >= {"lava", "nir"}


@pytest.mark.parametrize("words,options,choices", [c for c in COMMANDS if c[0]],
                         ids=[" ".join(c[0]) for c in COMMANDS if c[0]])
def test_readme_cli_synopsis_names_every_subcommand_and_option(words, options, choices):
    section = _section((ROOT / "README.md").read_text(encoding="utf-8"), "Command line")
    prefix = "neuromem " + " ".join(words)
    synopsis = _synopsis_lines(section)
    lines = [ln for ln in synopsis if ln == prefix or ln.startswith(prefix + " ")]
    assert lines, f"README.md, section 'Command line': no synopsis line starting with {prefix!r}"
    for c in choices:
        assert any(ln.startswith(f"{prefix} {c}") for ln in lines), \
            f"README.md, section 'Command line': no synopsis line for {prefix + ' ' + c!r}"
    text = " ".join(lines)
    missing = [o for o in options if not re.search(rf"{re.escape(o)}(?![\w-])", text)]
    assert not missing, f"README.md, section 'Command line': {prefix!r} lacks {missing}"


def test_readme_names_top_level_options():
    (top,) = [o for w, o, _ in COMMANDS if not w]
    section = _section((ROOT / "README.md").read_text(encoding="utf-8"), "Command line")
    for o in top:
        assert o in section, o


def _loader_schema():
    """``{table: [keys]}`` and ``{tagged table: {tag value: [keys]}}``, derived by the loader from the
    spec dataclasses' field metadata (:func:`neuromem.spec.loader.schema`)."""
    from neuromem.spec import loader

    return loader.schema()


def test_loader_schema_walk_finds_the_known_tables():
    tables, tagged = _loader_schema()
    assert {"model", "phases", "protocol", "projections", "sources", "adaptation", "overlaps"} <= set(tables)
    assert "gain" in tables["phases"]
    assert {"populations", "rules", "connector", "weight", "stimuli", "v_init"} <= set(tagged)
    assert {"lif", "cond_lif"} <= set(tagged["populations"])
    assert "e_exc" in tagged["populations"]["cond_lif"] and "bias" in tagged["populations"]["lif"]


def test_models_readme_documents_every_loader_key():
    text = (ROOT / "models" / "README.md").read_text(encoding="utf-8")
    rows = set(re.findall(r"^\|\s*`([A-Za-z_][A-Za-z0-9_]*)`\s*\|", text, flags=re.M))
    tables, tagged = _loader_schema()
    missing = {}
    for name, keys in tables.items():
        missing.update({f"{name}.{k}": k for k in keys if k not in rows})
    for name, choices in tagged.items():
        for choice, keys in choices.items():
            missing.update({f"{name}[{choice}].{k}": k for k in keys if k not in rows})
            if f'"{choice}"' not in text:
                missing[f"{name}[{choice}]"] = choice
    assert not missing, f"models/README.md has no table row (| `key` |) for: {sorted(missing)}"


def test_newcomer_kit():
    lic = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert lic.startswith("MIT License") and "the neuromem developers" in lic
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "## [Unreleased]" in changelog and "keepachangelog.com" in changelog
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith(("jupyterlab", "notebook")) for r in extras["notebook"])
    assert re.search(r"^notebook:", (ROOT / "Makefile").read_text(), flags=re.M)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for needed in ("make demo", "make test", "make test-fast", "make notebook", "import neuromem"):
        assert needed in readme, needed


def test_readme_examples_are_real():
    """The README's model file loads, and every ``neuromem.<name>`` its Python section uses exists."""
    import neuromem
    from neuromem.spec.loader import loads_model

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (toml,) = re.findall(r"```toml\n(.*?)```", _section(readme, "Writing a model file"), flags=re.S)
    assert loads_model(toml, file="README.md").name == "tiny"
    python = "".join(re.findall(r"```python\n(.*?)```", _section(readme, "Python"), flags=re.S))
    names = set(re.findall(r"\bneuromem\.([A-Za-z_]\w*)", python))
    assert {"run", "load_model", "read_run"} <= names
    for name in names:
        assert hasattr(neuromem, name), name
