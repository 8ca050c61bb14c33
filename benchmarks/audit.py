"""How fast ``unleash-lite audit`` reads a large real codebase.

    .venv/bin/python benchmarks/audit.py                    # wagtail 8.0.1 from PyPI
    .venv/bin/python benchmarks/audit.py --package flask==3.1.2
    .venv/bin/python benchmarks/audit.py --tree DIR         # a tree you have (copied first)

Downloads the package's wheel (``pip download --no-deps``) into a scratch directory (never
into the checkout), unpacks it, and adds flag references of every shape the audit knows to
one Python file in ten (a module-level constant used through an import, literals in
``is_enabled``/``get_variant``, a FakeUnleash rule, an f-string) and to one template in ten,
plus a flags file naming most of them. Then runs the whole audit (scan, flags file, report)
in this process, 5 times, and prints the lines read per second of the fastest run and of the
median, with the counts found (checked against the references added).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from unleash_lite.cli.audit import Audit, file_flags
from unleash_lite.cli.audit_scan import scan

REPEATS = 5
DEFAULT_PACKAGE = "wagtail==8.0.1"  # a Django CMS: ~270k lines of Python, ~12k of templates


def unpacked(package: str, scratch: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", package, "-d", str(scratch)],
        check=True,
    )
    (wheel,) = scratch.glob("*.whl")
    tree = scratch / "tree"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tree)
    return tree


def copied(source: Path, scratch: Path) -> Path:
    tree = scratch / "tree"
    subprocess.run(["cp", "-r", str(source), str(tree)], check=True)
    return tree


def add_flags(tree: Path) -> tuple[int, int, int]:
    """Flag references in one file in ten; returns (references, dynamic, names)."""
    python = sorted(
        p for p in tree.rglob("*.py") if p.name != "__init__.py" and ".dist-info" not in str(p)
    )
    templates = sorted(tree.rglob("*.html"))
    constants = tree / "bench_flags.py"
    constants.write_text(
        "".join(f'FLAG_{n} = "bench-constant-{n}"\n' for n in range(len(python) // 10 + 1)),
        encoding="utf-8",
    )
    references = dynamic = 0
    names: set[str] = set()
    for index, path in enumerate(python[::10]):
        text = path.read_text(encoding="utf-8")
        path.write_text(
            text
            + f"\n\nfrom bench_flags import FLAG_{index}\n\n"
            + f"def _bench_flags_{index}(client, fake, name):\n"
            + f"    client.is_enabled(FLAG_{index})\n"
            + f'    client.get_variant("bench-literal-{index}", {{"userId": name}})\n'
            + f'    fake = FakeUnleash()\n    fake.enable("bench-fake-{index}")\n'
            + '    client.is_enabled(f"bench-{name}")\n',
            encoding="utf-8",
        )
        references += 3
        dynamic += 1
        names |= {f"bench-constant-{index}", f"bench-literal-{index}", f"bench-fake-{index}"}
    for index, path in enumerate(templates[::10]):
        with path.open("a", encoding="utf-8") as file:
            file.write(f'\n{{% flag "bench-template-{index}" %}}x{{% endflag %}}\n')
        references += 1
        names.add(f"bench-template-{index}")
    return references, dynamic, len(names)


def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    arguments.add_argument("--package", default=DEFAULT_PACKAGE, help="a PyPI requirement")
    arguments.add_argument("--tree", type=Path, help="read this directory (a copy) instead")
    options = arguments.parse_args()
    with tempfile.TemporaryDirectory(prefix="unleash-lite-audit-bench-") as scratch:
        root = Path(scratch)
        if options.tree:
            tree, label = copied(options.tree, root), str(options.tree)
        else:
            tree, label = unpacked(options.package, root), options.package
        added, added_dynamic, distinct = add_flags(tree)
        source = root / "flags.json"
        features = [
            f'{{"name": "bench-literal-{n}", "enabled": true, "strategies": []}}'
            for n in range(distinct)
        ]
        source.write_text(
            f'{{"version": 2, "features": [{", ".join(features)}]}}', encoding="utf-8"
        )
        timings = []
        for _ in range(REPEATS):
            started = time.perf_counter()
            scanned = scan([tree])
            flags, origin = file_flags(str(source))
            audit = Audit(scanned, {flag.name: flag for flag in flags}, origin)
            audit.text(every_flag=True)
            timings.append(time.perf_counter() - started)
        bench = [r for r in scanned.references if r.name.startswith("bench-")]
        bench_dynamic = [d for d in scanned.dynamic if d.expression.startswith("f'bench-")]
        assert len(bench) == added, (len(bench), added)
        assert len(bench_dynamic) == added_dynamic, (len(bench_dynamic), added_dynamic)
        best, median = min(timings), statistics.median(timings)
        print(
            f"{label}: {scanned.files:,} files, {scanned.lines:,} lines "
            f"({len(scanned.skipped)} not read); {len(scanned.references):,} references "
            f"({added:,} added), {len(scanned.dynamic):,} dynamic ({added_dynamic:,} added)"
        )
        print(
            f"audit: best {best:.2f} s ({scanned.lines / best:,.0f} lines/s), "
            f"median {median:.2f} s ({scanned.lines / median:,.0f} lines/s) "
            f"of {REPEATS} runs; Python {sys.version.split()[0]}"
        )


if __name__ == "__main__":
    main()
