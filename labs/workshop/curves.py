"""Curves from a Trainer's log history, one call per plot, so the labs need no plotting code.

    from workshop.curves import plot_history
    plot_history(trainer, "loss")
    plot_history({"lr 5e-5": t1, "lr 5e-4": t2}, "eval_loss", transform=math.exp, ylabel="perplexity")

In a Jupyter kernel each call shows its figure once, where it is called (a cell with two
calls shows two figures); it also returns the matplotlib Figure, to save or change.
"""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Callable, Iterable, Mapping

from matplotlib import pyplot as plt
from matplotlib.figure import Figure

FIGSIZE = (6, 3.5)  # inches


class LogKeyError(KeyError):
    """A run never logged the key asked for (the message says what it did log)."""

    def __str__(self) -> str:  # KeyError would show the message's repr
        return str(self.args[0])


def plot_history(
    runs,
    key: str,
    *,
    transform: Callable[[float], float] | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    mark_steps: Iterable[int] | int = (),
    logy: bool = False,
) -> Figure:
    """Plot ``key`` against the logged ``step`` from ``trainer.state.log_history``.

    runs: a Trainer, a TrainerState (e.g. ``TrainerState.load_from_json(".../trainer_state.json")``),
        a log_history list, or a mapping ``{label: any of those}`` to draw several runs on one axis
        (with a legend).
    key: a logged key: "loss", "learning_rate", "grad_norm" (every ``logging_steps``), "eval_loss"
        or another "eval_*" metric (at each evaluation, see ``eval_strategy``).
    transform: applied to each value, e.g. ``math.exp`` turns eval_loss into perplexity.
    ylabel: the y-axis label (default: the key, or "exp(eval_loss)" with a transform).
    title: the figure's title.
    mark_steps: a step or steps to mark with a vertical dashed line (e.g. the resume point).
    logy: a logarithmic y axis.

    Returns the matplotlib Figure. In a Jupyter kernel it is displayed once, when this is
    called, and not again as the cell's value. The figure is closed in pyplot at once, so
    calls in a loop do not pile up open figures; ``fig.savefig(...)`` still works.
    Raises LogKeyError (a KeyError) when a run never logged ``key``, naming the keys it did
    log, and TypeError for something that is not a run.
    """
    labelled = isinstance(runs, Mapping)
    pairs = runs.items() if labelled else [(None, runs)]
    series = {label: _points(_history(run, label), key, label) for label, run in pairs}
    if not series:
        raise ValueError("runs is an empty mapping: give at least one {label: trainer}.")
    if isinstance(mark_steps, numbers.Real):
        mark_steps = (mark_steps,)

    fig, ax = plt.subplots(figsize=FIGSIZE, layout="constrained")
    plt.close(fig)  # out of pyplot's registry: no leak, and the inline backend does not show it a second time
    for label, (steps, values) in series.items():
        if transform is not None:
            values = [transform(v) for v in values]
        ax.plot(steps, values, label=label, marker="o" if len(steps) <= 20 else None, markersize=3)
    for step in mark_steps:
        ax.axvline(step, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("step")
    name = getattr(transform, "__name__", "")
    ax.set_ylabel(ylabel or (key if transform is None else f"{name if name.isidentifier() else 'f'}({key})"))
    if title:
        ax.set_title(title)
    if logy:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    if labelled:
        ax.legend()
    _show_once(fig)
    return fig


def _history(run, label) -> list:
    """The log_history list of a Trainer, a TrainerState or the list itself."""
    history = getattr(getattr(run, "state", run), "log_history", run)
    if not isinstance(history, (list, tuple)) or not all(isinstance(entry, Mapping) for entry in history):
        where = f"runs[{label!r}]" if label is not None else "runs"
        raise TypeError(
            f"{where} is a {type(run).__name__}: give a Trainer, trainer.state.log_history (a list of dicts), "
            "or a mapping {label: either} for several runs."
        )
    return history


def _points(history, key: str, label) -> tuple[list[int], list[float]]:
    """The (step, value) pairs of the entries that logged ``key``, in logged order."""
    entries = [entry for entry in history if key in entry]
    run = f"Run {label!r}" if label is not None else "The run"
    if not entries:
        if not history:
            raise LogKeyError(f"{run} has logged nothing yet: plot it after trainer.train().")
        logged = sorted({k for entry in history for k in entry} - {"step", "epoch"})
        close = difflib.get_close_matches(key, logged, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise LogKeyError(
            f"{run} never logged {key!r}.{hint} It logged: {', '.join(logged)}. "
            "Training keys (loss, learning_rate, grad_norm) are logged every logging_steps; "
            "eval_loss and eval_<metric> (one per compute_metrics result) only when evaluation runs "
            "(eval_strategy, eval_steps and an eval_dataset)."
        )
    missing = [entry for entry in entries if "step" not in entry]
    if missing:
        raise LogKeyError(f"{run} has {key!r} entries without a 'step' (e.g. {missing[0]}): not a Trainer log_history?")
    return [entry["step"] for entry in entries], [entry[key] for entry in entries]


def _show_once(fig: Figure) -> None:
    """In a Jupyter kernel: display ``fig`` now, and not again as the cell's last expression."""
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: nothing to display to
        return
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:  # a script, or terminal IPython
        return
    display(fig)
    # IPython asks an object's _ipython_display_ before rendering it: skip the figure if it is
    # the cell's value (it was just shown), and forget this when the cell has run.
    fig._ipython_display_ = lambda: None

    def forget():
        fig.__dict__.pop("_ipython_display_", None)
        shell.events.unregister("post_execute", forget)

    shell.events.register("post_execute", forget)
