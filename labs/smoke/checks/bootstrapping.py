"""Lab 1 (01_bootstrapping): a first run, model_init, FSDP2, a custom collator and data loader."""

from __future__ import annotations

import math

from .learning import assert_learned, printed
from .registry import check, need


@check("1A")
def basic_run(ns, _):
    trainer, before, after = need(ns, "trainer", "before", "after")
    summary = assert_learned(trainer, "trainer", ns)
    # Held-out improvement is 4A's check (accuracy); a tiny random-weight model may not
    # improve its eval loss in one short smoke epoch, so here it is reported, not asserted.
    assert math.isfinite(after["eval_loss"]), f"eval loss is {after['eval_loss']}"
    return f"{summary}; eval loss {before['eval_loss']:.3f} -> {after['eval_loss']:.3f}"


@check("1B")
def model_init_pathway(ns, _):
    trainer, model_before, model_init = need(ns, "model_init_trainer", "model_before_train", "model_init")
    assert trainer.model_init is model_init, "the trainer was not given model_init"
    assert trainer.model is not model_before, "train() did not re-create the model through model_init"
    return assert_learned(trainer, "model_init_trainer", ns) + "; train() re-created the model"


@check("1C")
def fsdp(ns, _):
    """FSDP2 really sharded the model across the processes, and the sharded run's first
    gradients are the ones a single process computes on the same global batch."""
    report = need(ns, "fsdp_report")
    world, wrapper, ranks = report["world_size"], report["wrapper"], report["ranks"]
    ran = (
        f"{world} process(es) on {report['device']}, backend {report['backend']}, wrapper chain "
        f"{' > '.join(report['wrapper_chain'])}"
    )
    assert report["global_step"] > 0, "the FSDP run trained no steps"
    assert report["losses"] and all(math.isfinite(loss) for loss in report["losses"]), f"losses {report['losses']}"
    assert len(ranks) == world, f"report has {len(ranks)} ranks for world size {world}"
    assert wrapper == "FSDP2", (
        f"FSDP2 did not run: the model's parameters are not DTensors, wrapper {wrapper} ({ran}). "
        "On CPU accelerate wraps DDP; the script must shard at load time (DistributedConfig)."
    )
    assert world >= 2, f"FSDP2 ran in one process, so nothing was sharded ({ran}); the notebook launches 2 or more"
    expected_backend = "gloo" if report["device"].startswith("cpu") else "nccl"
    assert report["backend"] == expected_backend, f"backend {report['backend']} on {report['device']} ({ran})"
    # The report says truly what was asked for and what ran: Trainer's FSDP plugin (several GPUs)
    # or sharding at load time (one GPU or none), never both, and the wrapper it names is the one found.
    requested, what_ran = report["requested"], report["ran"]
    assert what_ran["wrapper"] == wrapper, f"the report says {what_ran['wrapper']} ran, the model shows {wrapper}"
    plugin = what_ran["accelerate_fsdp_plugin"]
    assert bool(requested["fsdp"]) == plugin and requested["sharded_at_load"] != plugin, (
        f"requested fsdp={requested['fsdp']}, sharded_at_load={requested['sharded_at_load']}, but accelerate's FSDP "
        f"plugin {'ran' if plugin else 'did not run'}"
    )
    assert report["fsdp_requested"] == requested["fsdp"], "fsdp_requested disagrees with what was requested"

    # Every rank holds a strict part of the model, and the parts add up to it exactly
    # (to_local() is the unpadded shard: a replicated tensor would push the sum over).
    full = ranks[0]["full_elements"]
    held = [rank["local_elements"] for rank in ranks]
    assert all(rank["full_elements"] == full for rank in ranks), f"ranks disagree on the model size: {ranks}"
    assert all(h < full for h in held), f"{wrapper} ran but a rank holds the whole model ({held} of {full})"
    assert sum(held) == full, f"shards {held} add up to {sum(held)}, not the model's {full} elements"
    shown = report["parameters"]
    assert len(shown) >= 2, "the report names fewer than 2 parameters with their shard shapes"
    for parameter in shown:
        shape, local_shapes = parameter["full_shape"], parameter["local_shapes"]
        assert len(local_shapes) == world, f"{parameter['name']}: {len(local_shapes)} shard shapes for {world} ranks"
        assert all(local[1:] == shape[1:] for local in local_shapes), (
            f"{parameter['name']}: shards {local_shapes} of {shape}"
        )
        assert sum(local[0] for local in local_shapes) == shape[0], (
            f"{parameter['name']}: shards {local_shapes} of {shape}"
        )
        if shape[0] >= world:
            assert all(local[0] < shape[0] for local in local_shapes), (
                f"{parameter['name']} is not split: {local_shapes} of {shape}"
            )

    # Trainer's first step equals the same step in one process: a mean over the ranks, not a sum.
    first = report["gradient_check"]
    tolerance = first["tolerance"]
    assert 0 < tolerance <= 0.05, f"gradient tolerance {tolerance} is too loose to tell a mean from a sum"
    assert len(first["per_rank_batch"]) == world and min(first["per_rank_batch"]) > 0, first["per_rank_batch"]
    assert first["global_batch"] == sum(first["per_rank_batch"]), "the reference did not see every rank's batch"
    assert first["ranks_saw_different_examples"], "the ranks trained on copies of one batch, not on their own examples"
    ratio = first["grad_norm_fsdp"] / first["grad_norm_reference"]
    assert abs(ratio - 1) <= tolerance, (
        f"the first step's gradient norm is {ratio:.3f}x the one-process norm on the same batch "
        f"({float(world):.3f}x would be a sum over the ranks instead of a mean)"
    )
    relative = first["grad_max_abs_difference"] / first["grad_max_abs_reference"]
    assert relative <= tolerance, (
        f"the first step's gradients differ from the one-process ones by {relative:.2e} of the largest gradient "
        f"(tolerance {tolerance})"
    )
    loss_gap = abs(first["loss_fsdp"] - first["loss_reference"]) / abs(first["loss_reference"])
    assert loss_gap <= tolerance, (
        f"Trainer logged a first-step loss of {first['loss_fsdp']:.4f}, one process computes "
        f"{first['loss_reference']:.4f} on the same batch and weights"
    )
    shards = ", ".join(f"{p['name']} {p['full_shape']} -> {p['local_shapes']}" for p in shown[:2])
    return (
        f"FSDP2 sharded the model over {world} ranks ({ran}): ranks hold {held} of {full} elements; {shards}; "
        f"first-step gradients match one process within {relative:.1e} (tolerance {tolerance}), grad norm ratio "
        f"{ratio:.6f}"
    )


@check("1D")
def custom_collator(ns, _):
    trainer, train_ds = need(ns, "collator_trainer", "train_ds")
    summary = assert_learned(trainer, "collator_trainer", ns)
    seen = trainer.seen_meta
    assert len(seen) == len(train_ds), f"meta arrived for {len(seen)} of {len(train_ds)} examples"
    expected = sorted(train_ds["meta"])
    assert all(abs(a - b) < 1e-5 for a, b in zip(sorted(seen), expected, strict=True)), (
        "the meta values in the batches are not the dataset's"
    )
    return f"{summary}; the collator delivered meta for all {len(seen)} examples"


@check("1E")
def custom_dataloader(ns, stdout):
    trainer, train_ds = need(ns, "weighted_trainer", "train_ds")
    import torch

    labels = torch.tensor(train_ds["labels"])
    base_share = float((labels == 0).float().mean())
    # Expected negative share with 5:1 weights: 5n / (5n + p).
    expected = 5 * base_share / (5 * base_share + (1 - base_share))
    shares = [float(m["share"]) for m in printed(stdout, r"sampled=(?P<share>[\d.]+)")]
    assert shares, "the task printed no sampled share"
    assert abs(shares[-1] - expected) < 0.12, f"sampled negative share {shares[-1]:.2f}, expected about {expected:.2f}"
    # Judged on the distribution it was trained on: negatives drawn 5 times as often.
    learned = assert_learned(trainer, "weighted_trainer", ns, class_weight={0: 5.0, 1: 1.0})
    return f"{learned}; negatives oversampled {base_share:.2f} -> {shares[-1]:.2f}"
