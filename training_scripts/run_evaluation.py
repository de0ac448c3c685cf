#!/usr/bin/env python
"""Evaluate a saved vision encoder (VITO or any transformers vision model) with the named suites.

    python training_scripts/run_evaluation.py --model runs/tiny/encoder --suites probe,finetune \\
        --output_dir eval/tiny --quick
    # the same architecture at random initialisation, the baseline a pretrained checkpoint must beat:
    python training_scripts/run_evaluation.py --model runs/tiny/encoder --suites probe --output_dir eval/random \\
        --quick --random_init
    # suite options as SUITE.KEY=VALUE (JSON values):
    ... --option 'probe.datasets=["digits", "my_imagefolder/"]' --option finetune.video_dir=clips/

Writes OUTPUT_DIR/results.json (one entry per suite: numbers, dataset and checkpoint identities, settings) and
the suites' pictures under OUTPUT_DIR/<suite>/. When the model folder carries a vito_hf model card (written by
pretraining or conversion), its model-index and results table are updated from results.json (`--no_card_update`
leaves it alone). All logic lives in vito_hf.evaluation.orchestrator and vito_hf.hub.cards.
"""

import logging
import sys
from pathlib import Path

from vito_hf.cli import ArgumentParser
from vito_hf.evaluation.orchestrator import SUITES, EvaluationError, parse_suite_options, run_evaluation
from vito_hf.hub import update_card_of_vito_folder


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="folder written by save_pretrained, or a Hub repo id "
                        "(downloaded, or read from the local cache when the Hub is unreachable)")
    parser.add_argument("--suites", required=True, help=f"comma-separated, from: {', '.join(SUITES)}")
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--quick", action="store_true", help="small subsets and few steps: minutes on a CPU")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random_init", action="store_true", help="same architecture, randomly initialised")
    parser.add_argument("--option", action="append", default=[], metavar="SUITE.KEY=VALUE")
    parser.add_argument("--no_card_update", action="store_true", help="leave the model folder's card unchanged")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        results = run_evaluation(
            args.model, [name.strip() for name in args.suites.split(",") if name.strip()], args.output_dir,
            quick=args.quick, seed=args.seed, random_init=args.random_init,
            suite_options=parse_suite_options(args.option),
        )
    except EvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for name, suite in results["suites"].items():
        for metric in suite["metrics"]:
            print(f"{name:>12}  {metric['dataset_name']:<16} {metric['metric_name']:<36} {metric['metric_value']:.4f}")
    print(f"results: {args.output_dir}/results.json")
    if not (args.random_init or args.no_card_update):
        card = update_card_of_vito_folder(args.model, Path(args.output_dir) / "results.json")
        if card is not None:
            print(f"card: {card}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
