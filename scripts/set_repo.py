"""Set the book's repository URL in one go: `_config.yml` and every chapter's setup cell.

Usage: python scripts/set_repo.py https://github.com/you/your-fork
(`make set-repo URL=...` runs this.) tests/test_notebooks.py checks that the two agree.
"""

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
INSTALL = re.compile(r'"(mlbook(?:\[\w+\])?) @ git\+[^"]*"')


def main(url: str) -> None:
    if not re.fullmatch(r"https://[\w.-]+/[\w.-]+/[\w.-]+", url):
        sys.exit(f"not a repository URL like https://github.com/owner/name: {url!r}")
    config = ROOT / "_config.yml"
    text, n = re.subn(r"(?m)^(  url: ).*$", rf"\g<1>{url}", config.read_text(), count=1)
    if n != 1:
        sys.exit("could not find repository.url in _config.yml")
    config.write_text(text)
    for path in sorted((ROOT / "chapters").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        setup = next(c for c in nb.cells if c.cell_type == "code")
        setup.source = INSTALL.sub(lambda m: f'"{m.group(1)} @ git+{url}"', setup.source)
        nbformat.write(nb, path)
        print(f"updated {path.relative_to(ROOT)}")
    print(f"repository URL set to {url}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
