"""Getting the shipped intent model ready in a server without holding up its event loop: loaded from the
data directory in a thread (about a second), or — the first time, or after an upgrade changed the training
data — trained in a process of its own (10–20 s of pure-Python CPU that, in a thread, would slow every socket
and request of the server meanwhile) and then loaded."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from pathlib import Path

from aftersail.assistant import nlu

log = logging.getLogger("aftersail.assistant.model")


def load_prepared(data_dir: Path) -> nlu.IntentModel | None:
    """The base model from memory or from `data_dir` when it was trained on the shipped data; never trains."""
    cached = nlu.cached_model("base")
    if cached is not None:
        return cached
    model = nlu.load_saved(nlu.model_path(data_dir), nlu.fingerprint(nlu.shipped_examples()))
    if model is not None:
        nlu.remember_model("base", model)
    return model


def train_and_save(data_dir: str) -> None:
    """In the training process: train on the shipped data and save it where `load_prepared` looks."""
    examples = nlu.shipped_examples()
    nlu.save_model(nlu.IntentModel(examples), nlu.model_path(Path(data_dir)))


async def prepare_base_model(data_dir: Path) -> nlu.IntentModel:
    """The base model, ready. Cancelling it stops a training process that is still running."""
    model = await asyncio.to_thread(load_prepared, data_dir)
    if model is not None:
        return model
    log.info("training the assistant's intent model in a separate process (once; then it is saved)")
    process = multiprocessing.get_context("spawn").Process(
        target=train_and_save, args=(str(data_dir),), name="aftersail-nlu-train", daemon=True
    )
    process.start()
    try:
        await asyncio.to_thread(process.join)
    except asyncio.CancelledError:
        process.terminate()  # the thread's join returns once it has ended
        raise
    if process.exitcode != 0:
        log.warning("training the intent model failed (exit %s); training it here", process.exitcode)
    # Loads what the process saved (or, when it failed, trains in this process after all).
    return await asyncio.to_thread(nlu.base_model, data_dir)
