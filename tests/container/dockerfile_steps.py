#!/usr/bin/python3
"""Prints the instructions of one stage of a Dockerfile, one per line, for build-on-host.sh.

    dockerfile_steps.py Dockerfile STAGE

Each line is "INSTRUCTION<TAB>arguments" with continuation lines joined and comments dropped;
exec-form (JSON array) arguments are printed as a JSON array. The first line is
"FROM<TAB>image" of the stage. Exit 1 if there is no stage named STAGE. Standard library only.
"""

import json
import re
import sys


def instructions(path):
    """Yields (INSTRUCTION, args) with backslash continuations joined, comments skipped."""
    cur = ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not cur and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if cur and line.lstrip().startswith("#"):
                continue  # comment lines inside a continued instruction are ignored by Docker
            if line.endswith("\\"):
                cur += line[:-1] + " "
                continue
            cur += line
            word, _, rest = cur.strip().partition(" ")
            yield word.upper(), re.sub(r"\s+", " ", rest.strip())
            cur = ""
    if cur.strip():
        word, _, rest = cur.strip().partition(" ")
        yield word.upper(), re.sub(r"\s+", " ", rest.strip())


def main():
    path, stage = sys.argv[1], sys.argv[2]
    inside = False
    found = False
    for ins, args in instructions(path):
        if ins == "FROM":
            m = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", args, re.I)
            inside = bool(m and m.group(2) and m.group(2).lower() == stage.lower())
            if inside:
                found = True
                print("FROM\t" + m.group(1))
            continue
        if not inside:
            continue
        if args.startswith("["):
            try:
                args = json.dumps(json.loads(args))
            except ValueError:
                pass
        print(ins + "\t" + args)
    sys.exit(0 if found else 1)


if __name__ == "__main__":
    main()
