"""A server's first start trains the intent model in a process of its own and saves it; the next start
loads it; a stop during training ends the training process."""

from __future__ import annotations

import asyncio
import multiprocessing
from pathlib import Path

from aftersail.assistant import model_prep, nlu


async def test_the_first_start_trains_in_another_process_and_saves_for_the_next(tmp_path: Path) -> None:
    path = nlu.model_path(tmp_path)
    assert not path.exists()
    loop = asyncio.get_running_loop()
    ticks = 0

    async def ticking() -> None:  # the event loop stays free while the model trains elsewhere
        nonlocal ticks
        while True:
            await asyncio.sleep(0.05)
            ticks += 1

    ticker = asyncio.create_task(ticking())
    started = loop.time()
    with_cache = nlu.forget_model("base")  # this test process may hold one from another test
    try:
        model = await model_prep.prepare_base_model(tmp_path)
    finally:
        if with_cache is not None:
            nlu.remember_model("base", with_cache)
        ticker.cancel()
    took = loop.time() - started
    assert path.exists(), "the trained model is saved in the data directory"
    assert model.fingerprint == nlu.fingerprint(nlu.shipped_examples())
    assert ticks >= 0.5 * took / 0.05, f"the loop ticked {ticks} times in {took:.1f} s of training"
    assert model.understand_many(["where is my parcel"])[0].intent == "order_status"


async def test_stopping_the_server_while_it_trains_ends_the_training_process(tmp_path: Path) -> None:
    with_cache = nlu.forget_model("base")
    try:
        preparing = asyncio.create_task(model_prep.prepare_base_model(tmp_path))
        for _ in range(100):
            if [p for p in multiprocessing.active_children() if p.name == "aftersail-nlu-train"]:
                break
            await asyncio.sleep(0.05)
        (training,) = [p for p in multiprocessing.active_children() if p.name == "aftersail-nlu-train"]
        preparing.cancel()
        await asyncio.gather(preparing, return_exceptions=True)
        await asyncio.to_thread(training.join, 10)
        assert not training.is_alive() and training.exitcode != 0
        assert not nlu.model_path(tmp_path).exists()
    finally:
        if with_cache is not None:
            nlu.remember_model("base", with_cache)
