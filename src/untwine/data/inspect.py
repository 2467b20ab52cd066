"""What a folder of images and its CSV hold, before any training: ``untwine init`` prints this and
chooses a starter config from it.

``survey_images`` opens every PNG/JPG/BMP/TIFF under a folder (decoding it fully, so a truncated file
is found now rather than at step 0 of training) and counts sizes and colour modes. ``survey_table``
reads a CSV and guesses which column names the image files, which holds the class label, which the
subject (group) and which the time of a visit, each guess with the reason it was made, so a wrong
guess is easy to spot and override.
"""

from __future__ import annotations

import csv as csvlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from untwine.data.errors import DataError
from untwine.data.files import existing

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "F"})
_GROUP_NAMES = re.compile(r"(subject|patient|participant|group|person|individual|case|lesion_id|_id$|^id_)",
                          re.IGNORECASE)
_TIME_NAMES = re.compile(r"(time|day|visit|week|month|year|age|date|session|follow)", re.IGNORECASE)
_LABEL_NAMES = re.compile(r"(label|class|diagnos|dx|target|category|finding|outcome|y$)", re.IGNORECASE)


@dataclass
class ImageSurvey:
    """The images under ``folder``: readable files (relative paths, sorted), the unreadable ones with
    why, and how many images have each (width, height) and each colour mode."""

    folder: Path
    files: list[str]
    corrupt: list[tuple[str, str]]
    sizes: Counter = field(default_factory=Counter)
    modes: Counter = field(default_factory=Counter)
    binary: bool = False  # every pixel of every image is 0 or 255 (masks, line drawings)

    @property
    def channels(self) -> int:
        return 1 if set(self.modes) <= GRAY_MODES else 3

    @property
    def smallest_side(self) -> int:
        return min(min(size) for size in self.sizes)

    @property
    def square(self) -> bool:
        return all(w == h for w, h in self.sizes)

    def class_folders(self) -> dict[str, str] | None:
        """Image -> its folder's name, when every image sits one folder deep in >= 2 folders
        (the ImageFolder layout: ``melanoma/img1.jpg``); else None."""
        parents = {name: Path(name).parent for name in self.files}
        if any(len(parent.parts) != 1 for parent in parents.values()):
            return None
        if len(set(parents.values())) < 2:
            return None
        return {name: parent.name for name, parent in parents.items()}


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def survey_images(folder: str | PathLike, progress: bool = False) -> ImageSurvey:
    """Open and fully decode every image under ``folder`` (recursively, hidden folders skipped).

    A DataError when the folder does not exist or holds no image; unreadable files are listed in
    ``corrupt`` (with PIL's reason), not raised, so that one bad file does not hide the others."""
    folder = existing(folder, "folder")
    paths = _image_files(folder)
    if not paths:
        raise DataError(f"{folder} holds no images ({', '.join(IMAGE_SUFFIXES)}, searched recursively)")
    survey = ImageSurvey(folder, [], [])
    binary = True
    if progress:
        from tqdm import tqdm

        paths = tqdm(paths, desc="reading images", unit="image", leave=False, disable=None)  # None: TTY only
    for path in paths:
        name = path.relative_to(folder).as_posix()
        try:
            with Image.open(path) as image:
                image.load()  # decode every byte: a truncated JPEG fails here, not in training
                mode, size = image.mode, image.size
                if binary:
                    values = np.unique(np.asarray(image.convert("L")))
                    binary = bool(np.isin(values, (0, 255)).all())
        except (UnidentifiedImageError, OSError, ValueError) as error:
            survey.corrupt.append((name, str(error).splitlines()[0] if str(error) else type(error).__name__))
            continue
        survey.files.append(name)
        survey.sizes[size] += 1
        survey.modes[mode] += 1
    if not survey.files:
        first, why = survey.corrupt[0]
        raise DataError(f"{folder}: none of its {len(survey.corrupt)} image files could be read "
                        f"(first: {first}: {why})")
    survey.binary = binary
    return survey


@dataclass
class Guess:
    """A column chosen for a role, and why (``column`` None: no column fits, ``reason`` says why)."""

    column: str | list[str] | None
    reason: str


@dataclass
class TableSurvey:
    """A CSV beside the images: its rows, and the column guessed for each role."""

    csv: Path
    rows: list[dict[str, str]]
    columns: list[str]
    image: Guess
    label: Guess
    group: Guess
    time: Guess
    listed_missing: list[tuple[int, str]]  # (CSV row number, value) naming no readable image
    listed_corrupt: list[tuple[int, str]]  # (CSV row number, file) naming an unreadable image

    def class_counts(self) -> dict[str, int]:
        if self.label.column is None:
            return {}
        if isinstance(self.label.column, list):
            winners = [max(self.label.column, key=lambda c, row=row: _number(row[c]) or 0.0)
                       for row in self.rows]
            return by_count(Counter(winners))
        return by_count(Counter(row[self.label.column].strip() for row in self.rows))

    def group_sizes(self) -> Counter:
        if self.group.column is None:
            return Counter()
        return Counter(Counter(row[self.group.column].strip() for row in self.rows).values())


def by_count(counts: Counter) -> dict[str, int]:
    """Largest class first, ties by name (so the printout does not depend on row order)."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _resolves(value: str, files: set[str], stems: set[str]) -> bool:
    """Whether the folder source would find ``value``: a path relative to the folder, or one
    without an extension (as ISIC's CSVs write them) that one image has."""
    value = value.strip().replace("\\", "/")
    return value in files or (not Path(value).suffix and value in stems)


def _read(csv_path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as file:
            reader = csvlib.DictReader(file)
            header = [c for c in (reader.fieldnames or [])]
            rows = [{k: (v or "") for k, v in row.items() if k is not None} for row in reader]
    except UnicodeDecodeError as error:
        raise DataError(f"{csv_path} is not a UTF-8 text CSV: {error}") from None
    except csvlib.Error as error:
        raise DataError(f"{csv_path} is not a readable CSV: {error}") from None
    if not header:
        raise DataError(f"{csv_path} is empty (no header row)")
    duplicated = [c for c, k in Counter(header).items() if k > 1]
    if duplicated:
        raise DataError(f"{csv_path}: column {duplicated[0]!r} appears twice in the header")
    if not rows:
        raise DataError(f"{csv_path} has a header but no rows")
    return header, rows


def _known(column: str, header: list[str], csv_path: Path) -> None:
    if column not in header:
        raise DataError(f"{csv_path} has no column {column!r} (its columns: {header})")


def _values(rows: list[dict[str, str]], column: str) -> list[str]:
    return [row.get(column, "").strip() for row in rows]


def _image_guess(header: list[str], rows: list[dict[str, str]], files: Sequence[str],
                 asked: str | None, csv_path: Path) -> tuple[Guess, set[str], set[str]]:
    """The column naming the most files, as the folder source resolves them."""
    names = set(files)
    stems = {str(Path(name).with_suffix("")) for name in files}

    def hits(column: str) -> int:
        return sum(1 for v in _values(rows, column) if v and _resolves(v, names, stems))

    if asked is not None:
        _known(asked, header, csv_path)
        return (Guess(asked, f"given with --image-column; {hits(asked)} of {len(rows)} rows name an image"),
                names, stems)
    scored = sorted(((hits(c), c) for c in header), reverse=True)
    best, column = scored[0]
    if best == 0:
        example = _values(rows, header[0])[0]
        raise DataError(f"{csv_path}: no column names the image files in the folder (e.g. row 2, "
                        f"{header[0]}={example!r}; an image there is {files[0]!r}); "
                        "give --image-column")
    return Guess(column, f"{best} of {len(rows)} rows name an image file in the folder"), names, stems


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


def _label_guess(header: list[str], rows: list[dict[str, str]], taken: set[str], asked: str | None,
                 csv_path: Path) -> Guess:
    n = len(rows)
    if asked is not None:
        names = [c.strip() for c in asked.split(",") if c.strip()]
        for name in names:
            _known(name, header, csv_path)
        return Guess(names if len(names) > 1 else names[0], "given with --label-column")
    # one-hot columns (ISIC/HAM10000 ground truth: MEL, NV, ...): numeric 0/1, exactly one 1 per row
    binary = [c for c in header if c not in taken
              and all(_number(v) in (0.0, 1.0) for v in _values(rows, c))]
    if len(binary) >= 2:
        sums = np.array([[_number(row[c].strip()) for c in binary] for row in rows]).sum(axis=1)
        if np.all(sums == 1):
            return Guess(binary, f"{len(binary)} 0/1 columns with exactly one 1 per row: one-hot classes")
    candidates = []
    for column in header:
        if column in taken:
            continue
        values = _values(rows, column)
        distinct = set(values)
        if "" in distinct or not 2 <= len(distinct) <= max(2, min(50, n // 3)):
            continue
        numeric = all(_number(v) is not None for v in values)
        if numeric and not all(_is_int(v) for v in values):
            continue  # a measurement, not a class
        named = bool(_LABEL_NAMES.search(column))
        candidates.append((named, -len(distinct), column))
    if not candidates:
        return Guess(None, "no column has between 2 and min(50, rows/3) distinct values in every row")
    named, minus_k, column = max(candidates)
    why = "its name says label/class/diagnosis" if named else "the column with fewest distinct values"
    return Guess(column, f"{-minus_k} distinct values in every row; {why}")


def _group_guess(header: list[str], rows: list[dict[str, str]], taken: set[str], asked: str | None,
                 csv_path: Path) -> Guess:
    if asked is not None:
        _known(asked, header, csv_path)
        return Guess(asked, "given with --group-column")
    for column in header:
        if column in taken or not _GROUP_NAMES.search(column):
            continue
        values = _values(rows, column)
        counts = Counter(values)
        if "" in counts or len(counts) == len(values):
            continue  # an id per row is not a group: no subject has two images
        if len(counts) < 2:
            continue
        return Guess(column, f"named like a subject id; {len(counts)} subjects, "
                             f"{sum(k > 1 for k in counts.values())} of them with more than one image")
    return Guess(None, "no column named like a subject/patient id repeats across rows")


def _time_guess(header: list[str], rows: list[dict[str, str]], taken: set[str], asked: str | None,
                csv_path: Path) -> Guess:
    if asked is not None:
        _known(asked, header, csv_path)
        bad = next(((i + 2, v) for i, v in enumerate(_values(rows, asked)) if _number(v) is None), None)
        if bad is not None:
            raise DataError(f"{csv_path}, row {bad[0]}: time column {asked!r} holds {bad[1]!r}, not a number")
        return Guess(asked, "given with --time-column")
    for column in header:
        if column in taken or not _TIME_NAMES.search(column):
            continue
        if all(_number(v) is not None for v in _values(rows, column)):
            return Guess(column, "named like a time or visit and numeric in every row")
    return Guess(None, "no numeric column named like a time, day or visit")


def survey_table(csv: str | PathLike, images: ImageSurvey, *, image_column: str | None = None,
                 label_column: str | None = None, group_column: str | None = None,
                 time_column: str | None = None) -> TableSurvey:
    """Read ``csv`` and guess each column's role (or check the ones given). A DataError names the
    file and the column or row when the CSV cannot serve: no column naming the images, an unknown
    column, a non-numeric time."""
    csv_path = existing(csv)
    header, rows = _read(csv_path)
    every_file = [*images.files, *(name for name, _ in images.corrupt)]  # a corrupt file is still named
    image, _, _ = _image_guess(header, rows, every_file, image_column, csv_path)
    names = set(images.files)
    stems = {str(Path(name).with_suffix("")) for name in names}
    taken = {image.column}
    label = _label_guess(header, rows, taken, label_column, csv_path)
    taken |= set(label.column if isinstance(label.column, list) else [label.column])
    group = _group_guess(header, rows, taken, group_column, csv_path)
    taken.add(group.column)
    time = _time_guess(header, rows, taken, time_column, csv_path)
    corrupt = {name for name, _ in images.corrupt}
    corrupt_stems = {str(Path(name).with_suffix("")): name for name in corrupt}
    missing, listed_corrupt = [], []
    for i, value in enumerate(_values(rows, image.column)):
        if _resolves(value, names, stems):
            continue
        if value in corrupt or (not Path(value).suffix and value in corrupt_stems):
            listed_corrupt.append((i + 2, corrupt_stems.get(value, value)))
        else:
            missing.append((i + 2, value))
    if label.column is not None and isinstance(label.column, str):
        empty = next((i + 2 for i, v in enumerate(_values(rows, label.column)) if not v), None)
        if empty is not None:
            raise DataError(f"{csv_path}, row {empty}: empty label in column {label.column!r}")
    return TableSurvey(csv_path, rows, header, image, label, group, time, missing, listed_corrupt)
