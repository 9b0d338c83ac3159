"""Your data at the size it has: a folder of thousands of files opens under a small open-file limit, is decoded once
and afterwards only where it changed; a folder may bring its own test folder; a table is read a block at a time and
encoded once per file and settings. (The large sizes are `make bench-data`'s.)"""

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.config.schema import DatasetConfig
from harness.data import images as images_module
from harness.data import tables as tables_module
from harness.data.datasets import load_dataset
from harness.errors import UserError
from harness.shortcuts import Reusables
from tests.conftest import ROOT


def _folder(root, classes=("a", "b", "c"), per_class=20, size=(4, 4), colour=False):
    for label, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for index in range(per_class):
            value = (label * 80 + index) % 256
            pixels = np.full((*size, 3) if colour else size, value, np.uint8)
            Image.fromarray(pixels).save(root / name / f"{index:05d}.png")
    return root


def test_a_folder_of_thousands_of_files_is_read_under_an_open_file_limit_of_64(tmp_path):
    _folder(tmp_path / "many", per_class=1000)
    code = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        from harness.config.schema import DatasetConfig
        from harness.data.datasets import load_dataset
        data = load_dataset(DatasetConfig(name="images", path={str(tmp_path / "many")!r}))
        print(len(data.y_train) + len(data.y_val) + len(data.y_test), data.input_shape)
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "3000" and "(4, 4, 1)" in result.stdout


def test_a_changed_added_or_removed_file_is_found_and_only_its_work_is_done(tmp_path, monkeypatch):
    root = _folder(tmp_path / "photos")
    decoded = []
    decode = images_module._decoded
    monkeypatch.setattr(images_module, "_decoded", lambda path, *rest: decoded.append(path.name) or decode(path, *rest))
    settings = DatasetConfig(name="images", path=str(root), test_fraction=0.25)
    first = load_dataset(settings)
    assert len(decoded) == 60
    decoded.clear()
    assert load_dataset(settings).class_names == first.class_names and decoded == []  # a later run decodes nothing
    Image.fromarray(np.full((4, 4), 255, np.uint8)).save(root / "b" / "00003.png")  # changed
    Image.fromarray(np.full((4, 4), 7, np.uint8)).save(root / "c" / "99999.png")  # added
    (root / "a" / "00000.png").unlink()  # removed
    again = load_dataset(settings)
    assert sorted(decoded) == ["00003.png", "99999.png"]
    everything = np.concatenate([again.x_train[:], again.x_val[:], again.x_test[:]])
    assert len(everything) == 60 and (everything == 255).all(axis=(1, 2, 3)).sum() == 1  # the changed file's pixels


def test_an_image_folder_may_bring_its_own_test_folder_with_the_same_classes(tmp_path):
    _folder(tmp_path / "train", per_class=12)
    _folder(tmp_path / "test", per_class=4)
    data = load_dataset(DatasetConfig(name="images", path=str(tmp_path / "train"), test_path=str(tmp_path / "test")))
    assert (len(data.y_train) + len(data.y_val), len(data.y_test)) == (36, 12)
    assert data.class_names == ("a", "b", "c") and np.bincount(data.y_test).tolist() == [4, 4, 4]
    _folder(tmp_path / "other", classes=("a", "b", "d"), per_class=4)
    with pytest.raises(
        UserError, match=r"the class folders of .*other \(a, b, d\) are not those of .*train \(a, b, c\)"
    ):
        load_dataset(DatasetConfig(name="images", path=str(tmp_path / "train"), test_path=str(tmp_path / "other")))


def test_a_colour_image_in_a_grey_folder_makes_the_folder_colour(tmp_path):
    root = _folder(tmp_path / "mixed", per_class=5)
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).save(root / "c" / "99999.png")
    data = load_dataset(DatasetConfig(name="images", path=str(root), val_size=3))
    assert data.input_shape == (4, 4, 3)


def _table(path, rows=400):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=rows), "colour": rng.choice(["red", "green", "blue"], rows)})
    frame["target"] = np.where(frame["x"] > 0, "up", "down")
    frame.loc[5, "x"] = np.nan  # a missing number: the median fills it
    frame.loc[7, "colour"] = None  # a missing text
    if path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    return frame


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_table_is_encoded_once_per_file_and_settings_and_read_back_from_the_cache(tmp_path, monkeypatch, suffix):
    _table(tmp_path / f"data{suffix}")
    fitted = []
    fit = tables_module.fit_encoders
    monkeypatch.setattr(tables_module, "fit_encoders", lambda *args: fitted.append(1) or fit(*args))
    import harness.data.datasets as datasets_module

    monkeypatch.setattr(datasets_module, "fit_encoders", tables_module.fit_encoders)
    settings = DatasetConfig(name="table", path=str(tmp_path / f"data{suffix}"), target="target")
    first = load_dataset(settings, Reusables())
    assert first.features == ("x", "colour_blue", "colour_green", "colour_red") and first.x_train.dtype == np.float32
    assert not np.isnan(np.asarray(first.x_train)).any()  # the missing values filled in
    again = load_dataset(settings, Reusables())  # a new process: from the cache, not encoded again
    assert fitted == [1] and np.array_equal(np.asarray(first.x_train), np.asarray(again.x_train))
    load_dataset(DatasetConfig(name="table", path=settings.path, target="target", split_seed=1), Reusables())
    assert fitted == [1, 1]  # other settings: encoded anew


def test_rows_gathered_from_a_mapped_file_come_in_the_order_asked_and_leave_memory_as_they_are_read(tmp_path):
    from harness.data.arrays import AROUND, RELEASE_EVERY, Rows, gather, map_npy, release

    values = np.arange(4096 * 4096, dtype=np.int32).reshape(4096, 4096)  # 64 MB, a row 16 KB
    np.save(tmp_path / "x.npy", values)
    mapped = map_npy(tmp_path / "x.npy")
    rows = np.random.default_rng(0).permutation(4096)[:3000]
    assert np.array_equal(gather(mapped, rows), values[rows])
    assert np.array_equal(Rows(mapped, rows)[10:20], values[rows[10:20]])
    assert _resident_bytes(mapped) <= 2 * (RELEASE_EVERY + 2 * AROUND)  # not the 64 MB the rows span
    touched = mapped[np.sort(rows)].sum()  # indexing the mapping itself: its pages stay, until released
    assert touched and _resident_bytes(mapped) > 48 * 2**20
    release(mapped)
    assert _resident_bytes(mapped) < 2**20


def _resident_bytes(array) -> int:
    """The resident memory of the mapping that holds `array` (from /proc/self/smaps)."""
    address = array.ctypes.data
    inside = False
    with open("/proc/self/smaps") as smaps:
        lines = smaps.readlines()
    for line in lines:
        if "-" in line.split()[0] and ":" not in line.split()[0]:
            start, end = (int(bound, 16) for bound in line.split()[0].split("-"))
            inside = start <= address < end
        elif inside and line.startswith("Rss:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no mapping holds the array")
