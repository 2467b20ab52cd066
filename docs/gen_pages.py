"""Run by mkdocs-gen-files during `mkdocs build`: writes the pages docs/pages.py makes and the
navigation (SUMMARY.md, read by mkdocs-literate-nav)."""

import importlib.util
from pathlib import Path

import mkdocs_gen_files

_spec = importlib.util.spec_from_file_location("untwine_docs_pages", Path(__file__).with_name("pages.py"))
pages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(pages)

generated = {**pages.command_pages(), **pages.tutorial_pages(), **pages.reference_pages()}
contributing = (pages.ROOT / "CONTRIBUTING.md").read_text()
generated["contributing.md"] = contributing
generated["configuration.md"] = pages.configuration_page()
for path, text in generated.items():
    with mkdocs_gen_files.open(path, "w") as file:
        file.write(text)

nav = mkdocs_gen_files.Nav()
nav["Home"] = "index.md"
nav["Your own images", "untwine init"] = "your-data.md"
for path in sorted(p for p in generated if p.startswith("tutorials/")):
    nav["Tutorials", Path(path).stem.replace("_", " ", 1)] = path
nav["Commands"] = "commands/index.md"
for path in (p for p in generated if p.startswith("commands/") and not p.endswith("index.md")):
    nav["Commands", "untwine " + Path(path).stem] = path
nav["Metrics"] = "metrics/index.md"
for page in sorted((pages.ROOT / "docs" / "metrics").glob("*.md")):
    if page.stem != "index":
        nav["Metrics", page.stem] = f"metrics/{page.name}"
nav["Configuration"] = "configuration.md"
for path in sorted(p for p in generated if p.startswith("reference/")):
    parts = Path(path).with_suffix("").parts[1:]
    parts = parts[:-1] if parts[-1] == "index" else parts
    nav[("API reference", *parts)] = path
nav["Contributing"] = "contributing.md"
with mkdocs_gen_files.open("SUMMARY.md", "w") as file:
    file.writelines(nav.build_literate_nav())
