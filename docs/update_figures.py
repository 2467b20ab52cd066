"""Copy the figures the tutorials wrote (at their default budget) into docs/tutorials/figures/,
shrinking any PNG over 200 KB (2/3 scale, 128 colours) so the repository stays small.

    UNTWINE_TUTORIAL_OUT=/tmp/tutorials python tutorials/000_lesions.py   # each tutorial, then
    python docs/update_figures.py /tmp/tutorials/figures
"""

import sys
from pathlib import Path

from PIL import Image

LIMIT = 200_000
TARGET = Path(__file__).resolve().parent / "tutorials" / "figures"


def main(source: Path) -> None:
    for path in sorted(source.glob("*.png")):
        out = TARGET / path.name
        image = Image.open(path)
        if path.stat().st_size > LIMIT:
            image = image.convert("RGB")
            image = image.resize((image.width * 2 // 3, image.height * 2 // 3), Image.Resampling.LANCZOS)
            image = image.quantize(128, method=Image.Quantize.MEDIANCUT)
        image.save(out, optimize=True)
        print(f"{out}: {out.stat().st_size // 1000} KB")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
