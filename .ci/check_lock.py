"""Fail unless every package installed in an environment is pinned, at that version, in a lock.

Usage: check_lock.py LOCK [PYTHON]. PYTHON is the environment's interpreter (default: this one).
Catches a dependency added to pyproject.toml without refreshing the lock, and an install that
bypassed the lock.
"""

import json
import re
import subprocess
import sys


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def main() -> int:
    lock_path = sys.argv[1]
    python = sys.argv[2] if len(sys.argv) > 2 else sys.executable
    pinned = {}
    with open(lock_path, encoding="utf-8") as lock:
        for line in lock:
            match = re.match(r"([A-Za-z0-9_.-]+)==([^\s;]+)", line)
            if match:
                pinned[canonical(match[1])] = match[2]
    listing = subprocess.run(
        [python, "-m", "pip", "list", "--format=json", "--exclude-editable"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    tooling = {"pip", "setuptools", "wheel"}
    wrong = [
        f"{item['name']} {item['version']} (lock: {pinned.get(canonical(item['name']), 'absent')})"
        for item in json.loads(listing)
        if canonical(item["name"]) not in tooling
        and pinned.get(canonical(item["name"])) != item["version"]
    ]
    if wrong:
        print(f"installed but not as {lock_path} pins them: " + ", ".join(wrong), file=sys.stderr)
        print("refresh the lock (README, For developers)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
