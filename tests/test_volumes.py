"""volumes(): slices of the NIfTI and DICOM sample files nibabel and pydicom ship (read offline), and
of small volumes written here, with subjects as groups and visits as times; bad files are errors
naming the file."""

import os

import numpy as np
import pytest
import torch

nib = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")

from nibabel.testing import data_path as nibabel_data  # noqa: E402
from pydicom.data import get_testdata_file  # noqa: E402

from untwine.config import validate_config  # noqa: E402
from untwine.data import DataError, PairSet, volumes  # noqa: E402
from untwine.data.volumes import read_volume  # noqa: E402


def dicom_file(name):
    path = get_testdata_file(name, download=False)  # shipped in the wheel; never fetched
    if path is None:
        pytest.skip(f"pydicom's {name} is not installed")
    return path


def manifest(tmp_path, rows, header="path,subject,visit"):
    path = tmp_path / "manifest.csv"
    path.write_text(header + "\n" + "\n".join(",".join(map(str, row)) for row in rows) + "\n")
    return path


def write_nifti(path, data, affine=None):
    nib.save(nib.Nifti1Image(np.asarray(data, np.float32), np.eye(4) if affine is None else affine), str(path))
    return path.name


def test_the_nibabel_samples_give_a_t1_slice_and_a_two_visit_pair(tmp_path):
    anatomical = os.path.join(nibabel_data, "anatomical.nii")
    four_d = os.path.join(nibabel_data, "example4d.nii.gz")
    csv = manifest(tmp_path, [(anatomical, "t1", 0, ""), (four_d, "fmri", 0, 0), (four_d, "fmri", 1, 1)],
                   header="path,subject,visit,volume")
    images = volumes(csv, volume_column="volume", size=32, cache=False)
    assert (len(images), images.channels, images.size) == (3, 1, 32)
    assert images.groups.tolist() == ["t1", "fmri", "fmri"] and images.times.tolist() == [0, 0, 1]
    # each volume is windowed to its 1st..99th percentile: its slice reaches both ends of 0..255
    pixels = images.images().float()
    assert pixels[0].min() == 0 and pixels[0].max() >= 250
    # the two volumes of the 4-D file are one subject at two visits: the only pair there is
    rows = PairSet(images, "groups").sampler(2, 0).indices(0).numpy()
    assert sorted(map(tuple, rows)) == [(1, 2), (2, 1)]
    # close in content (the same head), not identical
    first, second = pixels[1].flatten(), pixels[2].flatten()
    assert not torch.equal(first, second) and torch.corrcoef(torch.stack([first, second]))[0, 1] > 0.9


def test_the_pydicom_samples_are_read_with_their_rescale(tmp_path):
    ct, mr = dicom_file("CT_small.dcm"), dicom_file("MR_small.dcm")
    images = volumes(manifest(tmp_path, [(ct, "a", 0), (mr, "b", 0)]), size=64, cache=False)
    assert (len(images), images.size) == (2, 64)
    dataset = pydicom.dcmread(ct)
    raw = read_volume(__import__("pathlib").Path(ct))[:, :, 0]
    np.testing.assert_allclose(raw, dataset.pixel_array * float(dataset.RescaleSlope)
                               + float(dataset.RescaleIntercept))
    # the image is the scan turned a quarter (rows of the axial slice become anterior-up) and resized
    expected = np.rot90(raw[:, :, None].squeeze())
    resized = torch.nn.functional.interpolate(torch.from_numpy(expected.copy())[None, None], size=64,
                                              mode="bilinear").flatten()
    ours = images.images()[0].float().flatten()
    assert torch.corrcoef(torch.stack([ours, resized]))[0, 1] > 0.95


def test_a_truncated_dicom_is_an_error_naming_the_file(tmp_path):
    truncated = dicom_file("MR_truncated.dcm")
    with pytest.raises(DataError, match="MR_truncated.dcm"):
        volumes(manifest(tmp_path, [(truncated, "a", 0)]), cache=False)


def test_the_middle_slice_and_slices_around_it_along_the_chosen_axis(tmp_path):
    data = np.zeros((8, 8, 9))
    for z in range(9):
        data[1:7, 1:7, z] = z + 1  # slice z holds the value z + 1 in a square
    name = write_nifti(tmp_path / "ramp.nii.gz", data)
    csv = manifest(tmp_path, [(name, "s", 0)])
    middle = volumes(csv, size=8, percentiles=(0, 100), cache=False).images()[0, 0].float()
    assert middle.max() == pytest.approx(255 * 5 / 9, abs=1)  # slice 4 holds 5 of a range 0..9
    three = volumes(csv, size=8, slices=3, spacing=2, percentiles=(0, 100), cache=False)
    assert len(three) == 3 and three.groups.tolist() == ["s"] * 3
    peaks = three.images().float().amax(dim=(1, 2, 3))
    np.testing.assert_allclose(peaks.numpy(), [255 * 3 / 9, 255 * 5 / 9, 255 * 7 / 9], atol=1)
    chosen = volumes(csv, size=8, slice_index=8, percentiles=(0, 100), cache=False).images().max()
    assert chosen == 255
    with pytest.raises(DataError, match=r"slices \[7, 9\] asked for, the volume has 9"):
        volumes(csv, size=8, slice_index=8, slices=2, spacing=2, cache=False)


def test_nifti_is_read_in_canonical_orientation_and_padded_to_a_square(tmp_path):
    data = np.zeros((12, 6, 3))
    data[:3, :, 1] = 1  # the left (low x) end of the middle slice
    flip = np.diag([-1.0, 1, 1, 1])  # the same head stored right to left
    names = [write_nifti(tmp_path / "ras.nii", data), write_nifti(tmp_path / "las.nii", data[::-1], flip)]
    images = volumes(manifest(tmp_path, [(names[0], "a", 0), (names[1], "a", 1)]), size=12,
                     percentiles=(0, 100), cache=False).images()
    assert torch.equal(images[0], images[1])
    # a 12 x 6 slice, turned a quarter, fills columns 0..11 and rows 3..8 of the 12 x 12 square
    on = images[0, 0] > 128
    assert not on[:3].any() and not on[9:].any() and on[3:9, :3].all()


def test_bad_manifests_are_errors_naming_the_row_column_or_file(tmp_path):
    name = write_nifti(tmp_path / "v.nii", np.random.default_rng(0).random((4, 4, 4)))
    with pytest.raises(DataError, match="has no column 'visit'"):
        volumes(manifest(tmp_path, [(name, "a")], header="path,subject"), cache=False)
    with pytest.raises(DataError, match=r"row 2: volume 'missing.nii' not found"):
        volumes(manifest(tmp_path, [("missing.nii", "a", 0)]), cache=False)
    four_d = os.path.join(nibabel_data, "example4d.nii.gz")
    with pytest.raises(DataError, match="holds 2 volumes"):
        volumes(manifest(tmp_path, [(four_d, "a", 0)]), cache=False)
    (tmp_path / "junk.nii").write_bytes(b"not a volume")
    with pytest.raises(DataError, match="junk.nii"):
        volumes(manifest(tmp_path, [("junk.nii", "a", 0)]), cache=False)


def test_visit_names_are_times_and_a_config_names_the_source(tmp_path):
    name = write_nifti(tmp_path / "v.nii", np.random.default_rng(0).random((6, 6, 6)))
    csv = manifest(tmp_path, [(name, "a", "bl"), (name, "a", "m12")])
    images = volumes(csv, size=8, cache=False)
    assert images.times.tolist() == ["bl", "m12"]
    config = validate_config({"name": "v", "data": {"source": "volumes", "options": {"manifest": str(csv)},
                                                   "pairs": {"by": "groups"}},
                              "model": {"name": "adagvae"}})
    assert config.data.source == "volumes"
