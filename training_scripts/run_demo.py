#!/usr/bin/env python
"""The VITO demo on a CPU: curate the real sample clips, pretrain the tiny preset, save it, probe its features.

    python training_scripts/run_demo.py --output-dir vito_demo

About 10 minutes on 2 CPU cores. All logic lives in vito_hf.demo; this script parses arguments and prints.
"""

import argparse
import logging

from vito_hf.demo import run_demo, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output-dir", default="vito_demo", help="Folder for every result (reruns resume).")
    parser.add_argument("--max-steps", type=int, default=None, help="Pretraining steps (default: the demo's).")
    parser.add_argument("--batch-size", type=int, default=None, help="Clips per step (default: the demo's).")
    parser.add_argument("--eval-limit", type=int, default=None, help="Images per split for the probes.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="No progress bars.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    given = {"max_steps": args.max_steps, "batch_size": args.batch_size, "eval_limit": args.eval_limit}
    options = {key: value for key, value in given.items() if value is not None}
    result = run_demo(args.output_dir, seed=args.seed, progress=not args.quiet, **options)
    print(summary(result))


if __name__ == "__main__":
    main()
