#!/usr/bin/env python
"""Publish a VITO checkpoint folder to a model repo, or a curated clip store to a dataset repo, on the Hub.

    python training_scripts/push_to_hub.py model runs/tiny/encoder --repo_id me/vito-tiny --dry_run
    python training_scripts/push_to_hub.py model runs/tiny/encoder --repo_id me/vito-tiny --private
    python training_scripts/push_to_hub.py dataset videonet/ --repo_id me/videonet-clips

A store packed as WebDataset shards (dataset_scripts/convert_to_webdataset.py) uploads its tars, their index,
card and report instead of the loose clips. `--dry_run` prints the files that would be uploaded, one per line,
and touches no network. Without it the
Hub is checked first (a few seconds at most): offline or unreachable, the command stops with a message and
exit status 1, having changed nothing. All logic lives in vito_hf.hub.publish.
"""

import sys

from huggingface_hub.errors import HfHubHTTPError

from vito_hf.cli import ArgumentParser
from vito_hf.hub.publish import HubUnreachableError, PublishError, push_checkpoint, push_clip_store


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["model", "dataset"], help="model: checkpoint folder; dataset: clip store")
    parser.add_argument("folder", help="the folder to upload")
    parser.add_argument("--repo_id", required=True, help="Hub repo id, user/name (created if it does not exist)")
    parser.add_argument("--dry_run", action="store_true", help="list the files that would be uploaded, upload nothing")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", help="branch to push to (default: main)")
    parser.add_argument("--commit_message", help="message of the upload commit")
    args = parser.parse_args(argv)
    push = push_checkpoint if args.kind == "model" else push_clip_store
    try:
        if args.dry_run:
            plan = push(args.folder, args.repo_id, dry_run=True)
            print("\n".join(plan.files))
            print(f"{len(plan.files)} files, {plan.total_bytes:,} bytes -> {plan.repo_type} repo {plan.repo_id} "
                  "(dry run: nothing uploaded)", file=sys.stderr)
            return 0
        url = push(args.folder, args.repo_id, private=args.private or None, revision=args.revision,
                   commit_message=args.commit_message)
    except PublishError as error:
        parser.error(str(error))
    except HubUnreachableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except HfHubHTTPError as error:  # e.g. not logged in, no write access to the repo
        print(f"error: the Hub refused the upload: {str(error).splitlines()[0]} (log in with `hf auth login`, "
              "check the repo id and your write access)", file=sys.stderr)
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
