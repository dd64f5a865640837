"""What an exporter cannot represent: issues, the refusal error, the phase lookup.

Every exporter checks a model before it reads arrays or imports its toolchain
and reports each feature it cannot represent as an :class:`ExportIssue`;
errors refuse the export with :class:`ExportError`.  Which neuron features are
beyond a current-based LIF is declared by the spec
(:attr:`neuromem.spec.LIFPopulation.export_limits`); :func:`neuron_issues`
turns that declaration into issues, so every exporter refuses the same
features with the same words.  No numpy, no toolchain.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExportIssue", "ExportError", "LavaExportError", "resolve_phase", "neuron_issues", "rule_issues",
           "raise_on_errors"]


@dataclass(frozen=True)
class ExportIssue:
    """A model feature that an exporter cannot represent exactly.

    Attributes
    ----------
    severity : {"error", "warning"}
        ``"error"``: the feature cannot be exported and the exporter refuses
        the model.  ``"warning"``: it is exported approximately (or left out)
        and the result may differ from Brian2.
    feature : str
        Short name: a key of :attr:`~neuromem.spec.LIFPopulation.export_limits`
        (``"tau_syn_inh"``, ``"adaptation"``), or ``"refractory"``,
        ``"delay"``, ``"plasticity"``, ``"normalisation"``, ``"bounds"``.
    message : str
        What is affected and why; names the population, projection or rule.
    """

    severity: str
    feature: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"

    def as_dict(self) -> dict:
        """JSON-ready form, as stored in the exporters' results files."""
        return {"severity": self.severity, "feature": self.feature, "message": self.message}


class ExportError(ValueError):
    """The model (or phase) uses features the export target cannot represent.

    ``LavaExportError`` is the same class (its name from when Lava was the only
    target; NIR raises it too).

    Parameters
    ----------
    issues : iterable of ExportIssue
    what : str
        What was to be exported (``"model 'cls', phase 'sleep'"``).
    target : str
        The target, as it reads in the message.

    Attributes
    ----------
    issues : list of ExportIssue
        Every issue found, errors and warnings.
    """

    def __init__(self, issues, what: str = "the model", target: str = "Lava"):
        self.issues = list(issues)
        errors = [i for i in self.issues if i.severity == "error"]
        lines = "\n  ".join(str(i) for i in errors)
        super().__init__(f"cannot export {what} to {target}:\n  {lines}")


LavaExportError = ExportError


def resolve_phase(model, phase):
    """The :class:`~neuromem.spec.Phase` for a name, a Phase, or ``None``.

    Raises
    ------
    KeyError
        If the model has no phase of that name (the message lists them).
    """
    if phase is None or not isinstance(phase, str):
        return phase
    try:
        return model.protocol.phase(phase)
    except KeyError:
        names = ", ".join(p.name for p in model.protocol.phases)
        raise KeyError(f"model {model.name!r} has no phase {phase!r} (phases: {names})") from None


def neuron_issues(model, populations, target: str) -> list[ExportIssue]:
    """Errors for the neuron features a current-based LIF target cannot represent.

    Parameters
    ----------
    model : neuromem.spec.Model
    populations : iterable of str
        The populations exported.
    target : str
        The target's neuron, as it reads in the message (``"Lava's LIF"``).

    Returns
    -------
    list of ExportIssue
        One error per feature of :attr:`~neuromem.spec.LIFPopulation.export_limits`.
    """
    return [ExportIssue("error", feature, f"population {name!r}: {what}; {target} has no such variable")
            for name in populations
            for feature, what in model.populations[name].export_limits.items()]


def rule_issues(model, projections, phase=None, supported=None) -> list[ExportIssue]:
    """Errors for the rules whose synapses do not export (``RuleCaps.exportable`` false, e.g. short-term
    depression, whose transmitted weight is not the stored one).

    Parameters
    ----------
    model : neuromem.spec.Model
    projections : iterable of str
        The projections exported.
    phase : neuromem.spec.Phase, optional
        The phase exported: a short-term plasticity (transmission) rule it switches off
        (:attr:`~neuromem.spec.Phase.stp_off`) transmits the stored weight there and is not refused.
    supported : callable, optional
        ``supported(rule)`` true for the rules the exporter builds in spite of
        the declaration (e.g. Lava's graded spikes carry short-term depression);
        those are left to the exporter's own check.

    Returns
    -------
    list of ExportIssue
        One error per such rule of each projection.
    """
    from neuromem.spec.registry import RULES

    def switched_off(name):
        if phase is not None:
            return ""
        off = [ph.name for ph in model.protocol.phases if name in ph.stp_off]
        return (f"; the phases that switch it off (stp_off) export: {', '.join(off)} (name one as the phase)"
                if off else "")

    return [ExportIssue("error", "plasticity",
                        f"projection {name!r}: rule {rname!r} ({type(model.rules[rname]).__name__}) declares that "
                        f"its synapses do not export (RuleCaps.exportable is false){switched_off(name)}")
            for name in projections for rname in model.projections[name].plasticity
            if not RULES.caps(model.rules[rname]).exportable
            and not (supported is not None and supported(model.rules[rname]))
            and not (phase is not None and name in phase.stp_off and RULES.caps(model.rules[rname]).transmission)]


def raise_on_errors(issues, what: str, target: str) -> list[ExportIssue]:
    """``issues`` unchanged if none is an error, else :class:`ExportError`."""
    issues = list(issues)
    if any(i.severity == "error" for i in issues):
        raise ExportError(issues, what, target)
    return issues
