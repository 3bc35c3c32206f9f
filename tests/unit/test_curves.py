"""workshop.curves.plot_history on synthetic log histories (no training), and how it displays in a kernel."""

import io
import math
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import pytest  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from workshop.curves import LogKeyError, plot_history  # noqa: E402

# The shape of trainer.state.log_history: training logs every logging_steps, evaluations,
# and the summary train() appends at the end.
HISTORY = [
    {"loss": 2.5, "grad_norm": 3.0, "learning_rate": 5e-5, "epoch": 0.5, "step": 10},
    {"loss": 2.0, "grad_norm": 2.0, "learning_rate": 4e-5, "epoch": 1.0, "step": 20},
    {"eval_loss": 2.2, "eval_accuracy": 0.6, "epoch": 1.0, "step": 20},
    {"loss": 1.5, "grad_norm": 1.5, "learning_rate": 2e-5, "epoch": 1.5, "step": 30},
    {"loss": 1.0, "grad_norm": 1.0, "learning_rate": 0.0, "epoch": 2.0, "step": 40},
    {"eval_loss": 1.8, "eval_accuracy": 0.7, "epoch": 2.0, "step": 40},
    {"train_runtime": 1.0, "train_loss": 1.75, "epoch": 2.0, "step": 40},
]
OTHER = [{"loss": 3.0, "step": 10}, {"loss": 2.0, "step": 20}]


def xy(line) -> list[tuple[float, float]]:
    return [tuple(point) for point in line.get_xydata().tolist()]


def test_a_single_run_draws_the_logged_step_value_pairs():
    fig = plot_history(HISTORY, "loss")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    (line,) = ax.get_lines()
    assert xy(line) == [(10, 2.5), (20, 2.0), (30, 1.5), (40, 1.0)]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("step", "loss")
    assert ax.get_legend() is None
    assert tuple(fig.get_size_inches()) == (6, 3.5)


def test_a_trainer_or_its_state_stands_for_its_log_history():
    trainer = SimpleNamespace(state=SimpleNamespace(log_history=HISTORY))
    for run in (trainer, trainer.state):
        (line,) = plot_history(run, "eval_loss").axes[0].get_lines()
        assert xy(line) == [(20, 2.2), (40, 1.8)]


def test_a_mapping_draws_one_labelled_line_per_run_with_a_legend():
    fig = plot_history({"baseline": HISTORY, "warmup": OTHER}, "loss", title="Loss", logy=True)
    ax = fig.axes[0]
    lines = ax.get_lines()
    assert [line.get_label() for line in lines] == ["baseline", "warmup"]
    assert xy(lines[1]) == [(10, 3.0), (20, 2.0)]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["baseline", "warmup"]
    assert ax.get_title() == "Loss"
    assert ax.get_yscale() == "log"


def test_transform_is_applied_and_named_on_the_axis():
    ax = plot_history(HISTORY, "eval_loss", transform=math.exp).axes[0]
    assert xy(ax.get_lines()[0]) == [(20, math.exp(2.2)), (40, math.exp(1.8))]
    assert ax.get_ylabel() == "exp(eval_loss)"
    assert (
        plot_history(HISTORY, "eval_loss", transform=math.exp, ylabel="perplexity").axes[0].get_ylabel() == "perplexity"
    )


def test_mark_steps_adds_vertical_lines():
    ax = plot_history(HISTORY, "loss", mark_steps=(20, 30)).axes[0]
    data, *marks = ax.get_lines()
    assert len(marks) == 2
    assert [list(mark.get_xdata()) for mark in marks] == [[20, 20], [30, 30]]
    assert all(mark.get_linestyle() == "--" for mark in marks)
    assert len(plot_history(HISTORY, "loss", mark_steps=20).axes[0].get_lines()) == 2


def test_a_key_never_logged_names_the_logged_keys_and_the_setting():
    with pytest.raises(KeyError) as raised:
        plot_history({"run 1": HISTORY}, "accuracy")
    message = str(raised.value)
    assert isinstance(raised.value, LogKeyError)
    assert "Run 'run 1' never logged 'accuracy'" in message
    assert "Did you mean 'eval_accuracy'?" in message
    assert "eval_loss, grad_norm, learning_rate, loss" in message
    assert "logging_steps" in message and "eval_strategy" in message


def test_an_empty_history_and_a_wrong_argument_say_what_to_do():
    with pytest.raises(LogKeyError, match="logged nothing yet.*trainer.train"):
        plot_history([], "loss")
    with pytest.raises(TypeError, match="give a Trainer, trainer.state.log_history"):
        plot_history("loss", HISTORY)
    with pytest.raises(TypeError, match=r"runs\['b'\] is a int"):
        plot_history({"a": HISTORY, "b": 3}, "loss")


def test_figures_are_closed_so_a_loop_of_calls_does_not_leak():
    before = plt.get_fignums()
    for key in ("loss", "grad_norm", "learning_rate", "eval_loss") * 2:
        plot_history(HISTORY, key).savefig(io.BytesIO(), format="png")
    assert plt.get_fignums() == before


def test_in_a_kernel_each_call_shows_one_figure_and_the_cell_value_no_second(tmp_path):
    cells = {
        "from workshop.curves import plot_history\nh = " + repr(HISTORY): 0,
        "plot_history(h, 'loss')": 1,
        "plot_history(h, 'loss')\nplot_history(h, 'learning_rate')": 2,
        "for key in ('loss', 'grad_norm'):\n    plot_history(h, key)": 2,
        "fig = plot_history(h, 'eval_loss')": 1,
        "fig": 1,  # a figure kept from an earlier cell displays as usual
    }
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    shown = [sum("image/png" in output.get("data", {}) for output in cell.outputs) for cell in nb.cells]
    assert shown == list(cells.values())
