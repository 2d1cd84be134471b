"""Classification throughput on one core: `python -m benchmarks.assistant_classify --data-dir DIR`.

Pins itself to one CPU (`sched_setaffinity`; the parent also caps BLAS/OpenMP threads at one) and runs
`classify_many` — intent, confidence and language, exactly what the assistant calls for a turn — over the
shipped held-out texts (`nlu.shipped_examples("heldout")`, 14 languages, never trained on), in batches of
each given size (the assistant classifies the turns of one chat-writer batch together) and one message at
a time. No language hints: the language comes from the text alone, as for a buyer's first message.

Sizes are measured in alternating rounds, so that a busy moment of a shared machine does not land on one
size only. Prints one JSON line: per size, messages/s (all rounds together, and each round's), CPU µs
per message, plus the held-out accuracy of the very same calls (a fast model that got worse would show).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from aftersail.assistant import nlu
from aftersail.assistant.classify import classify_many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", type=Path, required=True, help="where the trained model is kept")
    parser.add_argument("--sizes", default="1,16,32,64,256", help="batch sizes, comma-separated")
    parser.add_argument("--seconds", type=float, default=4.0, help="per size, over all rounds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the last one)")
    args = parser.parse_args()
    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})

    started = time.perf_counter()
    model = nlu.base_model(args.data_dir)
    load_s = time.perf_counter() - started
    examples = nlu.shipped_examples("heldout")
    texts = [example.text for example in examples]
    # Warm-up pass (lingua loads its models on first use); its answers give the accuracy.
    understood = [c for i in range(0, len(texts), 64) for c in classify_many(model, texts[i : i + 64])]
    intent_ok = sum(c.intent == e.intent for c, e in zip(understood, examples, strict=True))
    lang_ok = sum(c.lang == e.lang for c, e in zip(understood, examples, strict=True))

    sizes = [int(size) for size in args.sizes.split(",")]
    done = {size: 0 for size in sizes}
    wall = {size: 0.0 for size in sizes}
    cpu_s = {size: 0.0 for size in sizes}
    rounds: dict[int, list[float]] = {size: [] for size in sizes}
    per_round = args.seconds / args.rounds
    for _ in range(args.rounds):
        for size in sizes:
            count, t0, c0 = 0, time.perf_counter(), time.process_time()
            start = 0
            while time.perf_counter() - t0 < per_round:  # through the texts, from where the last stopped
                batch = texts[start : start + size]
                classify_many(model, batch)
                count += len(batch)
                start = start + size if start + size < len(texts) else 0
            elapsed = time.perf_counter() - t0
            done[size] += count
            wall[size] += elapsed
            cpu_s[size] += time.process_time() - c0
            rounds[size].append(count / elapsed)
    print(
        json.dumps(
            {
                "cpu": cpu,
                "texts": len(texts),
                "languages": len({example.lang for example in examples}),
                "model_load_s": round(load_s, 2),
                "intent_accuracy": round(intent_ok / len(texts), 4),
                "language_accuracy": round(lang_ok / len(texts), 4),
                "sizes": {
                    str(size): {
                        "per_s": round(done[size] / wall[size], 1),
                        "rounds_per_s": [round(rate, 1) for rate in rounds[size]],
                        "cpu_us_per_message": round(1e6 * cpu_s[size] / done[size], 1),
                        "cpu_share": round(cpu_s[size] / wall[size], 3),
                        "messages": done[size],
                    }
                    for size in sizes
                },
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
