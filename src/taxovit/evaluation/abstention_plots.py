"""The ``abstention`` section's curves as PNG (``--plot`` with ``--abstention``)."""

from __future__ import annotations

from typing import Any

__all__ = ["ABSTENTION_PLOTS", "draw_abstention_plots"]

ABSTENTION_PLOTS = ("risk_coverage.png", "backoff.png")


def draw_abstention_plots(section: dict[str, Any]) -> dict[str, bytes]:
    """``{file name: PNG bytes}`` of the curves the section holds (none without scores)."""
    from taxovit.evaluation.plots import _png, _pyplot

    plt = _pyplot()
    out: dict[str, bytes] = {}
    if "risk_coverage" in section:
        rc = section["risk_coverage"]
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(rc["coverage"], rc["risk"], drawstyle="steps-post")
        ax.set(
            xlabel="coverage (most confident first)",
            ylabel="risk (error among accepted)",
            title=f"Risk–coverage, AURC {section['aurc']:.4f}",
            xlim=(0, 1),
        )
        out["risk_coverage.png"] = _png(fig)
        plt.close(fig)
    if "backoff" in section:
        b = section["backoff"]
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot(b["mean_depth"], b["accuracy"], marker="o", label="on the true path")
        ax.plot(b["mean_depth"], b["exact_accuracy"], marker=".", label="exact")
        for tau, x, y in zip(b["tau"][::5], b["mean_depth"][::5], b["accuracy"][::5], strict=True):
            ax.annotate(
                f"τ={tau:g}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8
            )
        ax.set(
            xlabel="mean depth of the prediction",
            ylabel="accuracy",
            title=f"Confident-ancestor back-off, area {section['backoff_area']:.4f}",
        )
        ax.legend()
        out["backoff.png"] = _png(fig)
        plt.close(fig)
    return out
