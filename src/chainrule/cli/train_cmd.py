"""``chainrule train``: the seed's algorithm on the seed's table, or on any CSV."""

from __future__ import annotations

import os
import time
from typing import Any

import click

from ..errors import ConfigError, DataError
from ..files import writable_target
from ..losses import get_loss
from ..optim import OPTIMIZERS
from ..schedules import SCHEDULES, make_schedule
from ..train import Callback, fit
from . import streamed
from .app import cli
from .extras import needs
from .output import EpochPrinter, Tracer, console, fmt, print_parameters, print_predictions
from .setup import build, describe, network_options, shown_path


def parse_batch(ctx: click.Context, param: click.Parameter, value: str) -> int | str:
    if value.strip().lower() in ("full", "all"):
        return "full"
    try:
        n = int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a whole number or 'full'") from None
    if n < 1:
        raise click.BadParameter(f"must be at least 1, got {n}")
    return n


def parse_schedule(text: str | None, lr: float, epochs: int) -> Any:
    """``step``, ``exponential:gamma=0.9``, ``cosine``, ``plateau:patience=3,factor=0.5`` → a schedule."""
    if not text:
        return lr
    name, _, rest = text.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--schedule options are key=value pairs, got {item!r} "
                              "(e.g. --schedule step:step_size=10,gamma=0.5)")
        try:
            options[key.strip()] = int(value) if value.strip().isdigit() else float(value)
        except ValueError:
            raise ConfigError(f"--schedule option {key}: {value!r} is not a number") from None
    if name.strip().lower() == "cosine":
        options.setdefault("epochs", epochs)
    return make_schedule(name, lr, **options)


def describe_training(setup: Any, optimizer: str, options: dict[str, Any], schedule: str | None,
                      epochs: int, batch: Any, validation: float, patience: int | None,
                      shuffle: bool = True, streamed: bool = False) -> str:
    rows = len(setup.data) if not streamed else float("inf")  # (a streamed table's: uncounted)
    per = "one row at a time" if batch == 1 or rows == 1 else (
        "all rows per step" if batch == "full" or batch >= rows else f"{batch} rows per step")
    if streamed and batch != 1:  # (check_batch refused "full" and batches over a block)
        per = f"up to {batch} rows per step (a batch ends where a block does)"
    extras = "".join(f", {k} {v}" for k, v in options.items())
    rate = f"η = {setup.lr:g}" + (f" ({schedule} schedule)" if schedule else "")
    rule = "w ← w − η ∂L/∂w" if optimizer == "sgd" and not options else f"{optimizer}{extras}"
    order = "shuffled" if shuffle else "in the table's order"
    text = (f"training loss {get_loss(setup.loss).formula} (mean over a batch), {rule} with {rate}, {per}, {order}, "
            f"{epochs} epochs, seed {setup.seed}")
    if validation:
        text += f"; {validation:g} of the rows held out for validation"
    if patience:
        text += f"; early stopping after {patience} epochs without improvement"
    return text


@cli.command()
@network_options
@click.option("--epochs", "-e", type=click.IntRange(min=1), default=50, show_default=True,
              help="Passes over the whole table.")
@click.option("--batch-size", "-b", default="1", show_default=True, callback=parse_batch,
              help="Rows per update: 1 is the seed's per-row algorithm; 'full' uses every row.")
@click.option("--optimizer", "-o", type=click.Choice(list(OPTIMIZERS)), default="sgd",
              show_default=True, help="The update rule (sgd is the seed's w ← w − η ∂L/∂w).")
@click.option("--momentum", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Momentum μ for sgd or rmsprop.")
@click.option("--nesterov", is_flag=True, help="Nesterov momentum (sgd, with --momentum).")
@click.option("--weight-decay", type=click.FloatRange(min=0), default=None,
              help="Weight decay λ (L2 on every parameter; decoupled for adamw).")
@click.option("--schedule", default=None,
              help=f"Learning-rate schedule by epoch: {', '.join(SCHEDULES)}; options after a "
              "colon, e.g. step:step_size=10,gamma=0.5 or plateau:patience=3.")
@click.option("--validation-split", type=click.FloatRange(0, 1, max_open=True), default=0.0,
              show_default=True, help="Share of the rows held out to measure val_loss each epoch.")
@click.option("--early-stopping", type=click.IntRange(min=1), default=None,
              help="Stop after this many epochs without improvement of val_loss (or loss) and "
              "keep the best epoch's weights.")
@click.option("--engine", type=click.Choice(["auto", "fused", "graph"]), default="auto",
              show_default=True,
              help="How each epoch runs: 'fused' needs no graph per step (a compiled loop for "
              "small steps, BLAS products for big ones; the same numbers, much faster), "
              "'graph' the autograd engine, 'auto' picks: fused when its loop is compiled "
              "already or compiling it pays for this run, saying so before it compiles.")
@click.option("--no-shuffle", is_flag=True,
              help="Take the rows in the table's order every epoch (as the seed does, so --trace "
              "starts at row 1) instead of a shuffled order.")
@click.option("--init-from", type=click.Path(dir_okay=False), default=None,
              help="Start from the weights and biases of an example file (FILE.toml, as for "
              "explain --example; or a shipped one: seed, sigmoid-2-2-2); its network must match.")
@click.option("--trace", type=click.IntRange(min=0), default=0, show_default=True,
              help="Narrate the first N steps: the row picked, the prediction, the loss, and "
              "every parameter's gradient and update.")
@click.option("--save", type=click.Path(dir_okay=False), default=None,
              help="Save the trained model to this .safetensors file (atomically).")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, callback=needs("plot"),
              help="Draw the training (and validation) loss per epoch to this .png or .svg.")
@click.option("--plot-boundary", type=click.Path(dir_okay=False), default=None,
              callback=needs("plot"),
              help="For a classifier with two inputs: draw its decision regions and the rows.")
@click.option("--checkpoint", type=click.Path(file_okay=False), default=None,
              help="Keep everything needed to resume in this folder: every --checkpoint-every "
              "epochs, on Ctrl-C or SIGTERM, and at the end.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=1, show_default=True,
              help="Epochs between checkpoints.")
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue the run checkpointed in this folder, with its own data and settings "
              "(--epochs may raise the number of epochs); it ends as if never stopped.")
@click.option("--memory", default=None, metavar="SIZE",
              help="Memory budget, e.g. 1GB or 512MB: a CSV bigger than this (or any Parquet "
              "file) is streamed: read in blocks, never whole, with bounded memory. "
              "[default: a quarter of this machine's memory]")
@click.option("--shuffle-buffer", type=click.IntRange(min=1), default=None,
              help="For a streamed table: rows shuffled at a time (an approximate shuffle, as "
              "tf.data's; exact when the data fit). [default: what an eighth of --memory holds]")
@click.option("--checkpoint-rows", type=click.IntRange(min=1), default=None,
              help="For a streamed table: also checkpoint inside an epoch, every N rows "
              "trained (with --checkpoint).")
@click.option("--spool/--no-spool", default=True, show_default=True,
              help="For a streamed CSV: the first pass keeps its parsed numbers in a temporary "
              "file (under $TMPDIR, about the CSV's size on disk, removed at the end) so later "
              "passes don't parse the text again; --no-spool parses it every pass, using no "
              "disk. The weights are the same either way.")
@click.option("--dask", "dask_address", default=None, metavar="tcp://HOST:PORT|local:N",
              help="Train on a Dask cluster (needs chainrule[scale]): a running 'dask scheduler' "
              "address, or local:N for N worker processes on 127.0.0.1; data-parallel SGD whose "
              "weights are averaged every --sync-every rows per worker. A table bigger than "
              "--memory is read by the workers (into their memory), never by this process.")
@click.option("--sync-every", type=click.IntRange(min=1), default=None,
              help="With --dask: the rows each worker trains between averages  [default: 64].")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final loss.")
@click.pass_context
def train(ctx: click.Context, quiet: bool, trace: int, save: str | None, plot: str | None,
          plot_boundary: str | None, checkpoint: str | None, checkpoint_every: int,
          resume: str | None, init_from: str | None, **options: Any) -> None:
    """Train a network on CSV (default: the seed's table of students).

    Each step picks the next row of a shuffled order (--no-shuffle: the table's order), predicts ŷ, measures the loss
    (L = (y − ŷ)² by default), back-propagates ∂L/∂w to every weight and bias, and
    updates them (w ← w − η ∂L/∂w for sgd). One pass over the rows is an epoch.
    """
    for name, value in (("--save", save), ("--plot", plot), ("--plot-boundary", plot_boundary),
                        ("--checkpoint", checkpoint), ("--resume", resume)):
        if value is not None and not value.strip():
            raise ConfigError(f"{name} needs a name, got an empty one")
    dask_address, sync_every = options.pop("dask_address"), options.pop("sync_every")
    if sync_every is not None and dask_address is None:
        raise ConfigError("--sync-every is for --dask (how often the workers' weights are "
                          "averaged); add --dask ADDRESS or drop it")
    if dask_address is not None and trace:  # the steps run on the workers, unseen here
        raise ConfigError("--trace narrates steps taken in this process; with --dask they run "
                          "on the workers: drop --trace or train without --dask")
    saved_dask: Any = None
    if resume is not None:
        options = resumed_options(ctx, resume, options)
        checkpoint = checkpoint or resume
        saved_dask = ctx.meta.get("resumed_dask")
        if saved_dask is not None and dask_address is None:
            raise ConfigError(f"the checkpoint in {resume} is of a run on Dask "
                              f"({dask_shown(saved_dask)}); resume it with --dask (e.g. "
                              f"--dask local:{saved_dask['workers']}) and "
                              f"--sync-every {saved_dask['sync_every']}")
        if saved_dask is None and dask_address is not None:
            raise ConfigError(f"the checkpoint in {resume} is of a run without Dask; resume it "
                              "without --dask and --sync-every")
    run = {k: options[k] for k in TRAINING}
    network = {k: v for k, v in options.items() if k not in TRAINING}
    if network.get("csv"):
        network["csv"] = os.path.abspath(network["csv"])
    route = streamed.plan(network.get("csv"), options.get("memory"), network.get("target"),
                          network.get("features"), dask=dask_address is not None)
    on_workers = route.stream and dask_address is not None  # (the workers read it, not here)
    if options.get("checkpoint_rows") and not (route.stream and checkpoint):
        raise ConfigError("--checkpoint-rows checkpoints inside the epochs of a streamed table "
                          "(one bigger than --memory), with --checkpoint; drop it here")
    if not options["spool"] and (not route.stream or on_workers):
        raise ConfigError("--no-spool is for a CSV streamed by this process (one bigger than "
                          "--memory, without --dask); this one is read "
                          f"{'by the Dask workers' if on_workers else 'whole'}, never spooled: "
                          "drop it here")
    if options.get("shuffle_buffer") and not route.stream:  # (read whole: shuffled exactly)
        raise ConfigError("--shuffle-buffer sets the approximate shuffle of a streamed table "
                          "(one bigger than --memory); this one is read whole and its rows "
                          "shuffled exactly: drop it here")
    progress, client, dask_run, found = None, None, None, None
    if route.stream:
        given = [flag for flag, value in (("--trace", trace), ("--plot-boundary", plot_boundary),
                                          ("--init-from", init_from)) if value]
        if dask_address is not None:  # (the workers read it, each its own partitions)
            given += [f"{flag} (with --dask)" for flag, key in (("--checkpoint-rows", "checkpoint_rows"),
                      ("--shuffle-buffer", "shuffle_buffer")) if options.get(key)]
        if given:
            raise ConfigError(f"{', '.join(given)} can't be used on a streamed table (one bigger "
                              "than --memory) yet; drop it, or raise --memory to read it whole")
        if on_workers:
            client, dask_run = open_cluster(ctx, dask_address, sync_every, saved_dask, resume)
            data, labels, found = streamed.on_workers(
                client, network["csv"], network.get("target"), network.get("features"),
                network["task"], network["missing"], network.get("delimiter"),
                run["validation_split"], network["seed"])
        else:
            if route.size > route.memory:  # (read in blocks: before the pass for the classes)
                from ..stream import TableStream
                from ..streamfit import check_batch

                check_batch(run["batch_size"], TableStream.open(
                    network["csv"], network.get("target"),
                    network.get("features")).fit_blocks(route.memory).block_rows)
            data = streamed.dataset(network["csv"], network.get("target"), network.get("features"),
                                    network["task"], network["missing"], network.get("delimiter"))
            progress = streamed.ByteProgress(console()) if not quiet else None
            labels = streamed.classes(network["csv"], data.target_names, data.feature_names,
                                      progress or (lambda *_: None)) \
                if data.task == "classification" else None
        setup = build(**network, data=data, classes=labels)
    else:
        setup = build(**network)
    if init_from is not None:
        if resume is not None:
            raise ConfigError("--init-from starts a new run; a resumed run continues from its "
                              "checkpoint's weights (drop --init-from)")
        from ..explain.example import init_from as set_weights

        set_weights(init_from, setup.model)
        setup.init = f"from {init_from}"
    for path in (save, plot, plot_boundary):  # fail before training, not after
        if path:
            writable_target(path)  # a folder that exists; never a FIFO, a device or a folder
    if plot_boundary and not (setup.classification and setup.data.X.shape[1] == 2):
        raise ConfigError("--plot-boundary draws a classifier with two input columns; this run "
                          f"is {setup.data.task} with {setup.data.X.shape[1]} input(s)")
    opt_options: dict[str, Any] = {}
    if run["momentum"] is not None:
        opt_options["momentum"] = run["momentum"]
    if run["nesterov"]:
        opt_options["nesterov"] = True
    if run["weight_decay"] is not None:
        opt_options["weight_decay"] = run["weight_decay"]
    epochs = run["epochs"]
    lr = parse_schedule(run["schedule"], setup.lr, epochs)
    out = console()
    callbacks: list[Callback] = []
    on_compile = lambda line: click.echo(line, err=True)  # noqa: E731  (quiet: stderr)
    if not quiet:
        for number, line in enumerate(describe(setup)):
            if number == 0 and route.stream:  # (its rows: the workers', or counted as read)
                line = streamed.data_line(shown_path(setup.data.source), setup.data,
                                          found.rows if on_workers else None)
            out.print(line)
        if on_workers:
            out.print(streamed.workers_line(shown_path(setup.data.source), route, found,
                                            dask_run["workers"]))
        elif route.stream:
            out.print(streamed.line(shown_path(setup.data.source), route, setup.data,
                                    options.get("shuffle_buffer"), options["spool"]))
        out.print(describe_training(setup, run["optimizer"], opt_options, run["schedule"], epochs,
                                    run["batch_size"], run["validation_split"], run["early_stopping"],
                                    shuffle=not run["no_shuffle"], streamed=route.stream))
        if resume:
            out.print(f"resuming the run checkpointed in {resume}")
            note = lengthened_cosine(ctx.meta.get("cosine"), epochs)
            if note:
                out.print(note)
        every = 1 if epochs <= 100 else max(1, epochs // 50)
        shown = "every epoch" if every == 1 else f"every {every} epochs"
        out.print(f"\nper epoch ({shown}): loss = mean training loss over the epoch's steps"
                  + ("; the loss is on scaled targets" if setup.scale != "none" and not setup.classification else ""))
        printer = EpochPrinter(out, epochs, every, bar=not route.stream)
        callbacks.append(printer)
        on_compile = printer.compiling
    if trace:
        callbacks.insert(0, Tracer(out, setup.model, setup.data, setup.loss, run["optimizer"],
                                   setup.lr, trace))
    if dask_address is not None and client is None:
        client, dask_run = open_cluster(ctx, dask_address, sync_every, saved_dask, resume)
    start = time.perf_counter()
    X, y = (setup.data.source, setup.data.target_names) if route.stream else \
        (setup.data.X, setup.data.y)
    streaming = dict(features=setup.data.feature_names, memory=route.memory,
                     shuffle_buffer=options.get("shuffle_buffer"),
                     checkpoint_rows=options.get("checkpoint_rows"),
                     progress=progress, spool=options["spool"]) if route.stream else {}
    if on_workers:  # the table the workers hold already (its survey: no second pass)
        X, streaming = found, dict(features=found.features)
    try:
        history = fit(setup.model, X, y, loss=setup.loss,
                      optimizer=run["optimizer"], lr=lr, epochs=epochs, batch_size=run["batch_size"],
                      shuffle=not run["no_shuffle"], seed=setup.seed, callbacks=callbacks,
                      validation_split=run["validation_split"], scale=setup.scale,
                      early_stopping=run["early_stopping"], optimizer_options=opt_options,
                      metrics=[] if setup.builtin else None,  # the seed's run shows its loss alone
                      checkpoint=checkpoint, checkpoint_every=checkpoint_every, resume=resume,
                      cluster=client, sync_every=sync_every or 64,
                      run_info={"options": {**network, **run},
                                "dask": dask_run},
                      engine=run["engine"],
                      on_compile=on_compile, **streaming)
    finally:
        if progress is not None:
            progress.close()
    seconds = time.perf_counter() - start
    if history.interrupted:
        where = f"; resume with: chainrule train --resume {checkpoint}" if checkpoint else ""
        kept = "the best epoch's weights are kept" if history.restored_epoch else \
            "the weights so far are kept"
        epochs_done = f"{len(history)} whole epoch{'' if len(history) == 1 else 's'}"
        out.print(f"stopped (Ctrl-C or SIGTERM) after {history.steps} steps ({epochs_done}); "
                  f"{kept}{where}")
    if history.stopped_early:
        out.print(f"stopped early after epoch {history.epoch[-1]}: no improvement for "
                  f"{run['early_stopping']} epochs")
    if history.restored_epoch:
        out.print(f"kept the weights of epoch {history.restored_epoch}, the best by "
                  f"{'val_loss' if 'val_loss' in history.logs else 'loss'}; the weights and "
                  "predictions below are that epoch's")
    finish(out, setup, history, run, seconds, quiet, save, plot, plot_boundary, route.stream)
    if history.interrupted:
        ctx.exit(130)  # as a shell reports a run stopped by Ctrl-C (128 + SIGINT)


def open_cluster(ctx: click.Context, address: str, sync_every: int | None,
                 saved: dict[str, int] | None, resume: str | None) -> tuple[Any, dict[str, int]]:
    """The Dask client for ``--dask`` (closed with the command) and the run's workers and
    rows a round, checked against a resumed run's."""
    from ..cluster import connect

    client = connect(address)
    ctx.call_on_close(client.close)
    if getattr(client, "cluster", None) is not None:
        ctx.call_on_close(client.cluster.close)
    run = {"workers": len(client.scheduler_info()["workers"]), "sync_every": sync_every or 64}
    if saved is not None and saved != run:
        raise ConfigError(f"the checkpoint in {resume} is of a run on Dask with "
                          f"{dask_shown(saved)}, not {dask_shown(run)}; resume it "
                          f"with as many workers (e.g. --dask local:{saved['workers']}) "
                          f"and --sync-every {saved['sync_every']}")
    return client, run


RESUME_MAY_CHANGE = ("epochs", "spool")  # (more epochs; the spool changes no number)

TRAINING = ("epochs", "batch_size", "optimizer", "momentum", "nesterov", "weight_decay",
            "schedule", "validation_split", "early_stopping", "engine", "no_shuffle")


def resumed_options(ctx: click.Context, folder: str, given: dict[str, Any]) -> dict[str, Any]:
    """The options the checkpointed run was started with (``--epochs`` may be raised)."""
    from .. import schema
    from ..checkpoint import checkpoint_path, read

    state = read(folder).state
    saved = state.get("run", {}).get("options")
    if not isinstance(saved, dict) or "epochs" not in saved:
        raise ConfigError(f"the checkpoint in {folder} was not made by chainrule train; resume it "
                          "from Python with fit(..., resume=...)")
    source = str(checkpoint_path(folder))
    schema.validate(saved, schema.TRAIN_OPTIONS, source, "checkpoint's run.options")
    params = {param.name: param for param in ctx.command.params}
    for name, value in saved.items():  # options without an entry in the table: their click type
        if name in schema.TRAIN_OPTIONS.fields or value is None:
            continue
        problem = "is not an option of chainrule train" if name not in params else None
        try:
            problem or params[name].type.convert(value, params[name], ctx)
        except click.BadParameter:
            problem = "does not fit its option"
        if problem:
            raise DataError(f"{source}: the checkpoint's run.options field {name[:40]} {problem}; "
                            "the file is damaged or was edited")
    dask = state.get("run", {}).get("dask")
    if dask is not None and not (isinstance(dask, dict) and set(dask) == {"workers", "sync_every"}
                                 and all(type(v) is int and v >= 1 for v in dask.values())):
        raise DataError(f"{source}: the checkpoint's run.dask field is not its workers and "
                        "sync_every; the file is damaged or was edited")
    ctx.meta["resumed_dask"] = dask
    mine = [name for name in given
            if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    changed = [name for name in mine if name not in RESUME_MAY_CHANGE]
    if changed:
        shown = ", ".join("--" + name.replace("_", "-") if name != "csv" else "the CSV" for name in changed)
        raise ConfigError(f"a resumed run keeps the data and settings it was started with; drop "
                          f"{shown} (only --epochs may change, to train longer, and --spool/--no-spool)")
    schedule = state.get("optimizer", {}).get("state", {}).get("schedule")
    if isinstance(schedule, dict) and schedule.get("object") == "CosineDecay":
        ctx.meta["cosine"] = {**schedule.get("state", {}),  # its T and η_min, as the run uses them
                              "next_epoch": state.get("place", {}).get("first_epoch", 1)}
    return {**given, **saved, **{name: given[name] for name in mine}}


def dask_shown(dask: dict[str, int]) -> str:
    """``{"workers": 2, "sync_every": 64}`` → "2 workers, --sync-every 64"."""
    workers = dask["workers"]
    return f"{workers} worker{'' if workers == 1 else 's'}, --sync-every {dask['sync_every']}"


def lengthened_cosine(cosine: dict[str, Any] | None, epochs: int) -> str | None:
    """A note when a resumed run is longer than its cosine schedule, which the checkpoint
    keeps as it was (``cosine``: the saved schedule's numbers): past T, η stays at η_min."""
    cosine = cosine or {}
    length, first = cosine.get("epochs"), max(int(cosine.get("next_epoch", 1)), 1)
    if not isinstance(length, int) or epochs <= length or epochs < first:
        return None  # no epoch left to run lies past T
    low = float(cosine.get("min_lr", 0.0))
    still = "; at 0 no step changes the weights" if low == 0 else ""
    return (f"note: the cosine schedule keeps the length it was started with, T = {length} "
            f"epochs; epochs {max(length + 1, first)}–{epochs} run at its final rate η_min = "
            f"{low:g}{still}. "
            f"For a cosine over all {epochs} epochs, start a new run with --epochs {epochs}.")


def finish(out: Any, setup: Any, history: Any, run: dict[str, Any], seconds: float, quiet: bool,
           save: str | None, plot: str | None, plot_boundary: str | None,
           sample: bool = False) -> None:
    """Report the result and write the files asked for."""
    if quiet:
        out.print(f"final loss {fmt(history.loss[-1])}" if history.loss else "no epoch finished")
    else:
        if history.loss:
            out.print(f"trained {history.steps} steps in {seconds:.2f} s; loss "
                      f"{fmt(history.loss[0])} → {fmt(history.loss[-1])}\n")
        print_parameters(out, setup.model)
        out.print()
        print_predictions(out, setup.model, setup.data, sample=sample)
        if sample:
            out.print(f"(the first rows of the table; the scores over all of it are the last "
                      f"epoch's above)")
    if save:
        from ..io import save as save_model, training_summary

        own = {k: v for k, v in run.items() if v is not None and not (k == "nesterov" and not v)}
        summary = training_summary(history, lr=setup.lr, seed=setup.seed, scale=setup.scale,
                                   data=shown_path(setup.data.source), **own)
        path = save_model(setup.model, save, loss=setup.loss, features=setup.data.feature_names,
                          targets=setup.data.target_names, training=summary)
        out.print(f"saved the model to {path}")
    if plot:
        from ..plot import plot_history

        out.print(f"drew the loss per epoch to {plot_history(history, plot)}")
    if plot_boundary:
        from ..plot import plot_boundary as draw_boundary

        path = draw_boundary(setup.model, setup.data.X, setup.data.y, plot_boundary,
                             feature_names=setup.data.feature_names)
        out.print(f"drew the decision regions to {path}")
