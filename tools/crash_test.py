#!/usr/bin/env python3
"""The crash suite's long mode: many more SIGKILLs than the CI run.

  tools/crash_test.py [--kills 300] [--build-dir build] [--seed N] [--keep]

Configures and builds outboxd and fake_sentinel in the build directory (as
tools/test.sh does), then runs tests/crash/crash_test.py with them and
prints its summary line; the figures also go to BUILD_DIR/crash_long.json.
"""

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=300)
    parser.add_argument("--build-dir", default="build")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    build = os.path.join(ROOT, args.build_dir)
    if not os.path.exists(os.path.join(build, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", build, "-G", "Ninja",
                        "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], check=True)
    subprocess.run(["cmake", "--build", build, "-j2", "--target", "outboxd", "fake_sentinel"],
                   check=True)
    command = [sys.executable, os.path.join(ROOT, "tests", "crash", "crash_test.py"),
               "--outboxd", os.path.join(build, "src", "daemon", "outboxd"),
               "--fake", os.path.join(build, "tools", "fake_sentinel", "fake_sentinel"),
               "--kills", str(args.kills),
               "--summary", os.path.join(build, "crash_long.json")]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    if args.keep:
        command.append("--keep")
    return subprocess.run(command).returncode


if __name__ == "__main__":
    sys.exit(main())
