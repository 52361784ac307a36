"""The documentation and the sources speak only of the product.

* No text file speaks of how or where bcnet_tf was developed (numbered work steps,
  borrowed or network-less hardware, internal tracker numbers). The phrases below are
  written so that this file does not match its own pattern.
* Every relative link in ``README.md`` and ``docs/*.md`` points to an existing file.
* Every public name of the packages has an entry in the API reference.

``mkdocs build --strict`` itself runs in ``.ci/run``, not here (it takes a while).
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("README.md", "CHANGELOG.md", "mkdocs.yml", "docs/", "bcnet_tf/", "recipes/", "bench/")
TEXT_SUFFIXES = {".py", ".md", ".txt", ".yml", ".yaml", ".json", ".cfg", ".toml", ".html"}
PROCESS_TALK = re.compile(
    r"\bstop\s\d+\b"
    r"|(?<!scope=\")\bsess[i]on\b"  # pytest's fixture scope of that name is not one
    r"|\bl[e]nt\b"
    r"|\bthese\s(?:offline\s)?machines\b"
    r"|\boffline\smachines?\b"
    r"|\bissue\s\d+\b",
    flags=re.IGNORECASE,
)
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def _project_files() -> list[str]:
    """Files git tracks or would track (new files not yet committed included)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return sorted({name for name in listed if (ROOT / name).is_file()})


def _scanned_text_files() -> list[Path]:
    this = Path(__file__).resolve().relative_to(ROOT).as_posix()
    return [
        ROOT / name
        for name in _project_files()
        if (name.startswith(SCANNED) or name.startswith("tests/"))
        and name != this
        and Path(name).suffix in TEXT_SUFFIXES
    ]


def process_talk(text: str) -> list[tuple[int, str]]:
    """``(line number, phrase)`` for every phrase about how the product was developed."""
    return [
        (number, match.group(0))
        for number, line in enumerate(text.splitlines(), start=1)
        for match in PROCESS_TALK.finditer(line)
    ]


# Phrases the pattern must find, assembled so that this file never contains them.
STOP, ISSUE = "stop" + " 14", "issue" + " 9"
BORROWED, THESE, SITTING = "le" + "nt", "these offline" + " machines", "Sess" + "ion"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        (f"measured in {STOP} on a VNNI CPU", [STOP]),
        (f"the GPU machine {BORROWED} to this work", [BORROWED]),
        (f"not on {THESE}; see {ISSUE}", [THESE, ISSUE]),
        (f"In this {SITTING} we", [SITTING]),
        (f'@pytest.fixture(scope="{SITTING.lower()}")', []),
        ("pip install; stop the server; 14 issues; sessions of Gradio; Reinhard's lens", []),
    ],
)
def test_process_talk_pattern(text: str, found: list[str]) -> None:
    assert [phrase for _, phrase in process_talk(text)] == found


def test_no_text_file_speaks_of_how_it_was_developed() -> None:
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {phrase!r}"
        for path in _scanned_text_files()
        for number, phrase in process_talk(path.read_text(encoding="utf-8", errors="replace"))
    ]
    assert not hits, "process talk in product files:\n" + "\n".join(hits)


def _markdown_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_relative_links_point_to_existing_files() -> None:
    broken = []
    for page in _markdown_pages():
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
        for target in MARKDOWN_LINK.findall(text):
            path = target.split("#", 1)[0]
            if not path or re.match(r"[a-z][a-z0-9+.-]*:", path):  # anchor only, or a URL
                continue
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "broken relative links:\n" + "\n".join(broken)


def _module_constant(module: Path, name: str) -> object:
    """The literal value assigned to ``name`` at the top of ``module`` (no import:
    importing would pull in TensorFlow); ``None`` if there is none."""
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:  # e.g. ["__version__", *_LAZY_EXPORTS]
                return None
    return None


def _public_names() -> set[str]:
    """Every sub-package's ``__all__``, and the objects ``import bcnet_tf`` offers
    lazily, by the name they are defined under (``_LAZY_EXPORTS`` maps a name to
    ``"module"`` or ``"module:attribute"``)."""
    names: set[str] = set()
    for init in (ROOT / "bcnet_tf").glob("*/__init__.py"):
        names.update(_module_constant(init, "__all__") or ())
    exports = _module_constant(ROOT / "bcnet_tf" / "__init__.py", "_LAZY_EXPORTS") or {}
    names.update(target.partition(":")[2] or name for name, target in exports.items())
    return names


def test_every_public_name_is_in_the_api_reference() -> None:
    documented = {
        target.rsplit(".", 1)[-1]
        for page in (ROOT / "docs" / "api").glob("*.md")
        for target in re.findall(r"^::: (\S+)", page.read_text(encoding="utf-8"), re.MULTILINE)
    }
    public = _public_names()
    assert public, "no public names found"
    missing = sorted(public - documented)
    assert not missing, f"public names missing from docs/api/*.md: {missing}"


def _readme_published() -> dict[str, set[float]]:
    """Study number -> the published values (as fractions) the README's recipe table
    quotes, leaving out parenthesised notes such as magnifications."""
    rows = re.findall(r"^\| (\d{3}) [^|]*\| ([^|]*) \|", (ROOT / "README.md").read_text(), re.M)
    return {
        study: {
            round(float(number) / 100, 3)
            for number in re.findall(r"\d+(?:\.\d+)?", re.sub(r"\(.*?\)", "", text))
        }
        for study, text in rows
    }


def test_the_readme_quotes_the_published_numbers_of_the_recipes() -> None:
    quoted = _readme_published()
    assert set(quoted) == {"000", "001", "002", "003", "004"}
    for module in pkgutil.iter_modules([str(ROOT / "recipes")]):
        if module.name.startswith("_"):
            continue
        recipe = importlib.import_module(f"recipes.{module.name}")
        study = re.search(r"study (\d{3})", recipe.STUDY).group(1)
        assert quoted[study] == {number.value for number in recipe.PUBLISHED}, module.name
